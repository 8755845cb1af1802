"""Distributions exactly as PyPI serves them pass every check an upload goes through.

The files are fetched once from the package index (PEP 691 JSON), checked against the digests
pinned below, and cached, so later runs need no network. Without the index and without a cache
these tests fail, saying so: they are the proof that the archive and filename checks refuse
only what no packaging tool makes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename

from registry.models import File
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from uploads.metadata import check_core_metadata_matches_form
from uploads.metadata import read_core_metadata
from uploads.validation import check_filename
from uploads.validation import form_fields_from_filename
from uploads.validation import parse_upload_form

INDEX = os.environ.get("WHEELHOUSE_TEST_INDEX", "https://pypi.org/simple/")
CACHE = Path(os.environ.get("WHEELHOUSE_TEST_CACHE") or Path.home() / ".cache" / "wheelhouse-tests")
TIMEOUT = 60


@dataclass(frozen=True)
class Real:
    filename: str
    sha256: str

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def packagetype(self) -> str:
        return "bdist_wheel" if self.is_wheel else "sdist"

    @property
    def project(self) -> str:
        if self.is_wheel:
            return parse_wheel_filename(self.filename)[0]
        return parse_sdist_filename(self.filename)[0]

    @property
    def pyversion(self) -> str:
        """What twine sends: the wheel's Python tag, "source" for an sdist."""
        return self.filename.removesuffix(".whl").split("-")[-3] if self.is_wheel else "source"


REAL = [
    # Named as every setuptools before 69.3 names sdists: not PEP 625's normalized spelling.
    Real("Django-5.1.3.tar.gz", "c0fa0e619c39325a169208caef234f90baa925227032ad3f44842ba14d75234a"),
    Real(
        "zope.interface-7.1.1.tar.gz",
        "4284d664ef0ff7b709836d4de7b13d80873dc5faeffc073abdb280058bfac5e3",
    ),
    Real(
        "ruamel.yaml-0.18.6.tar.gz",
        "8b27e6a217e786c6fbe5634d8f3f11bc63e0f80f6a5890f28863d9c45aac311b",
    ),
    Real(
        "packaging-24.2-py3-none-any.whl",
        "09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759",
    ),
    Real(
        "six-1.16.0-py2.py3-none-any.whl",
        "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
    ),
]
IDS = [real.filename for real in REAL]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.read()


def _download(real: Real) -> bytes:
    page_url = urljoin(INDEX, f"{real.project}/")
    try:
        page = json.loads(_get(page_url, "application/vnd.pypi.simple.v1+json"))
        entry = next((f for f in page["files"] if f["filename"] == real.filename), None)
        data = None if entry is None else _get(urljoin(page_url, entry["url"]))
    except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        pytest.fail(
            f"Cannot fetch {real.filename} from the package index {INDEX} ({error}). These "
            f"tests need it once, then use the cache in {CACHE / 'dists'} "
            "(WHEELHOUSE_TEST_CACHE; another index: WHEELHOUSE_TEST_INDEX)."
        )
    if data is None:
        pytest.fail(f"{page_url} lists no file {real.filename}.")
    if _sha256(data) != real.sha256:
        pytest.fail(f"The index served {real.filename} with another sha256 than pinned here.")
    return data


def _fetch(real: Real) -> bytes:
    path = CACHE / "dists" / real.filename
    if path.is_file():
        data = path.read_bytes()
        if _sha256(data) == real.sha256:
            return data
    data = _download(real)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return data


@pytest.fixture(scope="session")
def real_distributions() -> dict[str, bytes]:
    """Each real distribution's bytes, fetched at most once per session (and per cache)."""
    return {real.filename: _fetch(real) for real in REAL}


def _twine_form(real: Real, name: str, version: str, data: bytes) -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": real.packagetype,
        "pyversion": real.pyversion,
        "sha256_digest": _sha256(data),
    }


@pytest.mark.parametrize("real", REAL, ids=IDS)
def test_it_accepts_each_real_distribution_as_twine_uploads_it(
    real_distributions: dict[str, bytes], real: Real
) -> None:
    data = real_distributions[real.filename]

    core = read_core_metadata(io.BytesIO(data), real.filename, real.packagetype, size=len(data))
    name, version = core.metadata.name, str(core.metadata.version)
    form = parse_upload_form(_twine_form(real, name, version, data))
    check_filename(real.filename, form)
    check_core_metadata_matches_form(core, name=form.name, version=form.version)


@pytest.mark.parametrize("real", REAL, ids=IDS)
def test_it_accepts_each_real_distribution_uploaded_with_only_its_file(
    real_distributions: dict[str, bytes], real: Real
) -> None:
    """The REST API derives the form from the filename alone."""
    data = real_distributions[real.filename]

    fields = form_fields_from_filename(real.filename) | {"sha256_digest": _sha256(data)}
    form = parse_upload_form(fields)
    check_filename(real.filename, form)
    core = read_core_metadata(io.BytesIO(data), real.filename, real.packagetype, size=len(data))
    check_core_metadata_matches_form(core, name=form.name, version=form.version)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("real", REAL, ids=IDS)
def test_it_stores_each_real_distribution_posted_to_the_upload_endpoint(
    real_distributions: dict[str, bytes], tenant: Tenant, real: Real
) -> None:
    data = real_distributions[real.filename]
    core = read_core_metadata(io.BytesIO(data), real.filename, real.packagetype, size=len(data))
    upload = Upload(
        real.filename,
        data,
        name=core.metadata.name,
        version=str(core.metadata.version),
        overrides={"pyversion": real.pyversion},
    )

    response = tenant.post(upload)

    assert response.status_code == 200, response.content
    assert File.objects.get().filename == real.filename
