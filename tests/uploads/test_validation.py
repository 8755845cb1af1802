from __future__ import annotations

import pytest

from uploads.errors import UploadError
from uploads.validation import check_digests
from uploads.validation import check_filename
from uploads.validation import parse_upload_form
from uploads.web import upload_status

SHA = "a" * 64


def form(**overrides: str) -> dict[str, str]:
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "Demo.Pkg",
        "version": "1.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": SHA,
    }
    fields.update(overrides)
    return fields


def test_it_defaults_an_sdists_python_version_to_source() -> None:
    parsed = parse_upload_form(form(filetype="sdist", pyversion=""))
    assert parsed.pyversion == "source"


def test_it_treats_unknown_and_empty_as_absent() -> None:
    parsed = parse_upload_form(form(comment="UNKNOWN", blake2_256_digest="", md5_digest="UNKNOWN"))
    assert parsed.comment == ""
    assert parsed.digests == {"sha256": SHA}


def test_it_ignores_fields_it_does_not_know() -> None:
    parsed = parse_upload_form(form(provides_extras="x", import_names="y", attestations="[]"))
    assert parsed.name == "Demo.Pkg"


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({":action": "submit"}, 410, "pre-registration"),
        ({"protocol_version": "2"}, 400, "Unknown protocol version"),
        ({"name": "-bad-"}, 400, "invalid value for Name"),
        ({"version": "one"}, 400, "invalid value for Version"),
        ({"filetype": "bdist_egg"}, 400, "known file type"),
        ({"pyversion": ""}, 400, "Python version is required"),
        ({"sha256_digest": ""}, 400, "at least one message digest"),
        ({"sha256_digest": "xyz"}, 400, "hex digest"),
    ],
)
def test_it_refuses_a_bad_form(overrides: dict[str, str], status: int, message: str) -> None:
    with pytest.raises(UploadError, match=message) as caught:
        parse_upload_form(form(**overrides))
    assert upload_status(caught.value) == status


def test_it_refuses_a_digest_that_does_not_match() -> None:
    with pytest.raises(UploadError, match="does not match"):
        check_digests({"sha256": SHA}, {"sha256": "b" * 64, "md5": "", "blake2_256": ""})


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("demo_pkg-1.0-py3-none-any.whl\x00", "non-printable"),
        ("demo_pkg-1.0-py3-none-any\x7f.whl", "non-printable"),
        ("../demo_pkg-1.0-py3-none-any.whl", "'/'"),
        ("dir\\demo_pkg-1.0-py3-none-any.whl", "'/'"),
        ("demo_pkg-1.0.tar.gz", "Invalid file extension"),
        ("other-1.0-py3-none-any.whl", "does not match the project name"),
        ("demo_pkg-2.0-py3-none-any.whl", "Version in filename"),
        ("demo_pkg-py3-none-any.whl", "Invalid distribution filename"),
    ],
)
def test_it_refuses_a_bad_wheel_filename(filename: str, message: str) -> None:
    with pytest.raises(UploadError, match=message):
        check_filename(filename, parse_upload_form(form()))


def test_it_accepts_an_equivalent_version_spelling() -> None:
    check_filename("demo_pkg-1.0.0-py3-none-any.whl", parse_upload_form(form()))
    check_filename(
        "demo_pkg-1.0.tar.gz", parse_upload_form(form(filetype="sdist", pyversion="source"))
    )
