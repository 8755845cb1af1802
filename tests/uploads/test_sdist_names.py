"""Any sdist name packaging parses is accepted, and still only one sdist per release."""

from __future__ import annotations

import pytest

from registry.models import File
from tests.artifacts import sdist_bytes
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from uploads.validation import check_filename
from uploads.validation import form_fields_from_filename
from uploads.validation import parse_upload_form

SHA = "a" * 64


@pytest.mark.parametrize(
    ("filename", "name", "version"),
    [
        ("Django-5.1.3.tar.gz", "Django", "5.1.3"),
        ("zope.interface-7.1.1.tar.gz", "zope.interface", "7.1.1"),
        ("ruamel.yaml-0.18.6.tar.gz", "ruamel.yaml", "0.18.6"),
        ("zope_interface-7.1.1.tar.gz", "zope.interface", "7.1.1"),
        ("foo-bar-2.0rc1.tar.gz", "Foo_Bar", "2.0rc1"),
    ],
)
def test_it_accepts_every_sdist_name_packaging_parses(
    filename: str, name: str, version: str
) -> None:
    twine = {
        ":action": "file_upload",
        "name": name,
        "version": version,
        "filetype": "sdist",
        "pyversion": "source",
        "sha256_digest": SHA,
    }
    check_filename(filename, parse_upload_form(twine))
    rest = parse_upload_form(form_fields_from_filename(filename) | {"sha256_digest": SHA})
    check_filename(filename, rest)
    assert (rest.filetype, rest.version) == ("sdist", version)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_sdist_per_release_however_it_is_spelled(tenant: Tenant) -> None:
    first = tenant.post(Upload("Demo.Pkg-1.0.tar.gz", sdist_bytes(PACKAGE)))
    assert first.status_code == 200, first.content

    renamed = tenant.post(Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE)))

    assert renamed.status_code == 400
    assert renamed.reason_phrase == "Only one sdist may be uploaded per release."
    assert [f.filename for f in File.objects.all()] == ["Demo.Pkg-1.0.tar.gz"]
