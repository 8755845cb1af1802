"""What real build backends make (setuptools, hatchling, flit-core, poetry-core) and a compiled
platform wheel as PyPI serves it go all the way: accepted by the upload URL, processed to
ready, and offered by the index with their own Requires-Python and core metadata hash.

tests/artifacts.py writes every other test distribution by hand; these are the files
publishers actually send (built or fetched once per cache: tests/fixtures/built.py and real.py)."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from registry.models import File
from registry.models import FileStatus
from tests.fixtures.built import BACKENDS
from tests.fixtures.built import sha256_of
from tests.fixtures.hostile import Upload
from tests.fixtures.real import PLATFORM_WHEEL
from tests.world import Tenant
from uploads.processing import file_process

pytestmark = pytest.mark.django_db

JSON = "application/vnd.pypi.simple.v1+json"


def _core_metadata(filename: str, data: bytes) -> bytes:
    """The METADATA (wheel) or PKG-INFO (sdist) exactly as the archive holds it."""
    if filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            (name,) = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            return archive.read(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        (member,) = [
            m
            for m in archive.getmembers()
            if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        ]
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read()


def _publish(tenant: Tenant, filename: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    """Upload as twine does, let the worker process it; the index entry and core metadata."""
    metadata = _core_metadata(filename, data)
    fields = BytesParser(policy=compat32).parsebytes(metadata)
    pyversion = (
        filename.removesuffix(".whl").split("-")[-3] if filename.endswith(".whl") else "source"
    )
    upload = Upload(
        filename,
        data,
        name=fields["Name"],
        version=fields["Version"],
        overrides={"pyversion": pyversion, "metadata_version": fields["Metadata-Version"]},
    )

    response = tenant.post(upload)

    assert response.status_code == 200, response.content
    file = File.objects.get(filename=filename)
    file_process(file_id=file.pk)  # the worker's part (on commit, which this test never reaches)
    file.refresh_from_db()
    assert (file.status, file.rejection_reason) == (FileStatus.READY, "")
    basic = base64.b64encode(f"__token__:{tenant.token}".encode()).decode()
    client = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
    project = canonicalize_name(fields["Name"])
    page = json.loads(client.get(f"/acme/main/simple/{project}/", HTTP_ACCEPT=JSON).content)
    (entry,) = [f for f in page["files"] if f["filename"] == filename]
    return entry, metadata


@pytest.mark.parametrize("backend", BACKENDS, ids=[b.name for b in BACKENDS])
def test_it_offers_what_each_build_backend_makes(
    built_distributions: dict[str, list[Path]], tenant: Tenant, backend: Any
) -> None:
    built = {path.suffix: path for path in built_distributions[backend.name]}
    assert sorted(built) == [".gz", ".whl"]

    for path in built.values():
        entry, metadata = _publish(tenant, path.name, path.read_bytes())

        assert SpecifierSet(entry["requires-python"]) == SpecifierSet(backend.requires_python)
        assert entry["hashes"] == {"sha256": sha256_of(path.read_bytes())}
        if path.suffix == ".whl":
            assert entry["core-metadata"] == {"sha256": sha256_of(metadata)}
        else:  # an sdist's PKG-INFO may not be final: never offered as core metadata
            assert entry["core-metadata"] is False


def test_it_offers_a_compiled_platform_wheel_as_pypi_serves_it(
    platform_wheel: bytes, tenant: Tenant
) -> None:
    entry, metadata = _publish(tenant, PLATFORM_WHEEL.filename, platform_wheel)

    assert entry["requires-python"] == ">=3.9"
    assert entry["core-metadata"] == {"sha256": sha256_of(metadata)}
    basic = base64.b64encode(f"__token__:{tenant.token}".encode()).decode()
    client = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
    served = client.get(f"{entry['url']}.metadata")
    assert b"".join(served.streaming_content) == metadata
    served.close()  # last: closing ends the request, and the test's database connection
