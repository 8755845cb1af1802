"""Distributions exactly as PyPI serves them pass every check an upload goes through.

The files are fetched once from the package index (PEP 691 JSON), checked against the digests
pinned below, and cached, so later runs need no network. Without the index and without a cache
these tests fail, saying so: they are the proof that the archive and filename checks refuse
only what no packaging tool makes.
"""

from __future__ import annotations

import hashlib
import io

import pytest

from registry.models import File
from tests.fixtures.hostile import Upload
from tests.fixtures.real import IDS
from tests.fixtures.real import REAL
from tests.fixtures.real import Real
from tests.world import Tenant
from uploads.metadata import check_core_metadata_matches_form
from uploads.metadata import read_core_metadata
from uploads.validation import check_filename
from uploads.validation import form_fields_from_filename
from uploads.validation import parse_upload_form


def _twine_form(real: Real, name: str, version: str, data: bytes) -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": real.packagetype,
        "pyversion": real.pyversion,
        "sha256_digest": hashlib.sha256(data).hexdigest(),
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

    fields = form_fields_from_filename(real.filename) | {
        "sha256_digest": hashlib.sha256(data).hexdigest()
    }
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
