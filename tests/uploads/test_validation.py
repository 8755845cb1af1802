from __future__ import annotations

import pytest

from uploads.errors import UploadError
from uploads.validation import check_digests
from uploads.validation import check_filename
from uploads.validation import parse_upload_form
from uploads.web import upload_status

SHA = "a" * 64
SLASHES = r"^Cannot upload a file with '/' or '\\' in the name\.$"
NON_PRINTABLE = (
    r"^Cannot upload a file with non-printable characters \(ordinals 0-31\) or the DEL "
    r"character \(ordinal 127\) in the name\.$"
)


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
    parsed = parse_upload_form(
        form(filetype="sdist", pyversion="UNKNOWN", blake2_256_digest="", md5_digest="UNKNOWN")
    )
    assert parsed.pyversion == "source"
    assert parsed.digests == {"sha256": SHA}


def test_it_takes_a_form_without_a_protocol_version_as_version_1() -> None:
    fields = form()
    del fields["protocol_version"]

    assert parse_upload_form(fields) == parse_upload_form(form())


def test_it_ignores_fields_it_does_not_know() -> None:
    parsed = parse_upload_form(form(provides_extras="x", import_names="y", attestations="[]"))
    assert parsed.name == "Demo.Pkg"


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        # Warehouse's retired actions, with Warehouse's own words (twine shows them).
        *(
            (
                {":action": action},
                410,
                r"^Project pre-registration is no longer required or "
                r"supported, upload your files instead\.$",
            )
            for action in ("submit", "submit_pkg_info")
        ),
        ({":action": "doc_upload"}, 410, r"^Uploading documentation is not supported\.$"),
        ({":action": ""}, 400, r"^Unknown or missing ':action': use 'file_upload'\.$"),
        ({":action": "remove_pkg"}, 400, r"^Unknown or missing ':action': use 'file_upload'\.$"),
        ({"protocol_version": "2"}, 400, r"^Unknown protocol version\.$"),
        ({"name": "-bad-"}, 400, r"^'-bad-' is an invalid value for Name\.$"),
        ({"version": "one"}, 400, r"^'one' is an invalid value for Version\.$"),
        ({"filetype": "bdist_egg"}, 400, r"^Use a known file type: 'sdist' or 'bdist_wheel'\.$"),
        ({"pyversion": ""}, 400,
         r"^Python version is required for binary distribution uploads\.$"),
        ({"filetype": "sdist", "pyversion": "py3"}, 400,
         r"^Use 'source' as Python version for an sdist\.$"),
        ({"sha256_digest": ""}, 400, r"^Include at least one message digest\.$"),
        ({"sha256_digest": "xyz"}, 400,
         r"^Invalid value for sha256_digest: expected a hex digest\.$"),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_form(overrides: dict[str, str], status: int, message: str) -> None:
    with pytest.raises(UploadError, match=message) as caught:
        parse_upload_form(form(**overrides))
    assert upload_status(caught.value) == status


def test_it_takes_whichever_digests_the_client_sends() -> None:
    """twine sends md5 beside sha256; other clients send only blake2 or only md5."""
    md5, blake = "b" * 32, "c" * 64
    both = parse_upload_form(form(md5_digest=md5.upper()))
    assert both.digests == {"sha256": SHA, "md5": md5}
    assert parse_upload_form(form(sha256_digest="", blake2_256_digest=blake)).digests == {
        "blake2_256": blake
    }
    assert parse_upload_form(form(sha256_digest="", md5_digest=md5)).digests == {"md5": md5}


def test_it_refuses_a_digest_that_does_not_match() -> None:
    with pytest.raises(
        UploadError,
        match=r"^The digest supplied does not match a digest calculated from the uploaded file\.$",
    ):
        check_digests({"sha256": SHA}, {"sha256": "b" * 64, "md5": "", "blake2_256": ""})


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("demo_pkg-1.0-py3-none-any.whl\x00", NON_PRINTABLE),
        ("demo_pkg-1.0-py3-none-any\x7f.whl", NON_PRINTABLE),
        ("../demo_pkg-1.0-py3-none-any.whl", SLASHES),
        ("dir\\demo_pkg-1.0-py3-none-any.whl", SLASHES),
        ("demo_pkg-1.0.tar.gz", "Invalid file extension"),
        ("other-1.0-py3-none-any.whl", "does not match the project name"),
        ("demo_pkg-2.0-py3-none-any.whl", r"^Version in filename should be '1\.0' not '2\.0'\.$"),
        ("demo_pkg-py3-none-any.whl", "Invalid distribution filename"),
    ],
)
def test_it_refuses_a_bad_wheel_filename(filename: str, message: str) -> None:
    with pytest.raises(UploadError, match=message):
        check_filename(filename, parse_upload_form(form()))


def test_it_accepts_an_equivalent_version_spelling() -> None:
    """1.0.0 in the filename is the form's 1.0 (PEP 440), while 1.0.1 is another release:
    the check compares versions, it does not let everything through."""
    wheel = parse_upload_form(form())
    assert (wheel.name, wheel.version, wheel.filetype) == ("Demo.Pkg", "1.0", "bdist_wheel")
    check_filename("demo_pkg-1.0.0-py3-none-any.whl", wheel)
    with pytest.raises(UploadError, match=r"should be '1\.0' not '1\.0\.1'"):
        check_filename("demo_pkg-1.0.1-py3-none-any.whl", wheel)
    sdist = parse_upload_form(form(filetype="sdist", pyversion="source", version="1.0.0"))
    assert (sdist.version, sdist.filetype, sdist.pyversion) == ("1.0.0", "sdist", "source")
    check_filename("demo_pkg-1.0.tar.gz", sdist)
    with pytest.raises(UploadError, match=r"should be '1\.0\.0' not '1\.1'"):
        check_filename("demo_pkg-1.1.tar.gz", sdist)


CHARACTERS = "only ASCII letters, digits and '._-+!' may be used"


@pytest.mark.parametrize(
    ("filename", "character"),
    [
        ("demo_pkg-1.0-py3-none-any#x.whl", "'#'"),
        ("demo_pkg-1.0-py3-none-any?.whl", "'?'"),
        ("demo_pkg-1.0-py3-none-any%2F.whl", "'%'"),
        ('demo_pkg-1.0-py3-none-any".whl', "'\"'"),
        ("demo_pkg-1.0-py3-none-'any'.whl", '"\'"'),
        ("demo_pkg-1.0-py3-none-<any>.whl", "'<'"),
        ("demo_pkg-1.0-py3-none-any x.whl", "' '"),
        ("demo_pkg-1.0-py3-none-\u0430ny.whl", "'\\u0430'"),  # a Cyrillic a
        ("demo_pkg-1.0-py3-none-any\u2024whl.whl", "'\\u2024'"),  # one dot leader
    ],
)
def test_it_refuses_a_wheel_filename_with_characters_no_tag_uses(
    filename: str, character: str
) -> None:
    """They break index links and headers; each refusal names the character, in ASCII."""
    parsed = parse_upload_form(form())
    with pytest.raises(UploadError) as caught:
        check_filename(filename, parsed)
    assert upload_status(caught.value) == 400
    assert caught.value.message == (
        f"Cannot upload a file with the character {character} in the name: {CHARACTERS}."
    )
    assert caught.value.message.isascii()


def test_it_refuses_an_sdist_filename_with_characters_no_name_uses() -> None:
    parsed = parse_upload_form(form(filetype="sdist", pyversion="source"))
    with pytest.raises(UploadError, match=r"the character '%' in the name"):
        check_filename("demo_pkg-1.0%3Cscript.tar.gz", parsed)


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        (
            "demo_pkg-1.0-py3-none-any+local.whl",
            "Invalid wheel filename: the platform tag 'any+local' may only contain ASCII "
            "letters, digits, '_' and '.'.",
        ),
        (
            "demo_pkg-1.0-py3-no!ne-any.whl",
            "Invalid wheel filename: the ABI tag 'no!ne' may only contain ASCII "
            "letters, digits, '_' and '.'.",
        ),
        (
            "demo_pkg-1.0-1!x-py3-none-any.whl",
            "Invalid wheel filename: the build tag '1!x' must be a digit followed by ASCII "
            "letters, digits and '_'.",
        ),
        (
            "demo_pkg-1.0-1.2-py3-none-any.whl",
            "Invalid wheel filename: the build tag '1.2' must be a digit followed by ASCII "
            "letters, digits and '_'.",
        ),
    ],
)
def test_it_refuses_wheel_tags_with_characters_real_tags_never_have(
    filename: str, message: str
) -> None:
    with pytest.raises(UploadError) as caught:
        check_filename(filename, parse_upload_form(form()))
    assert (upload_status(caught.value), caught.value.message) == (400, message)


def test_it_accepts_the_tags_real_wheels_have() -> None:
    check_filename(
        "demo_pkg-1.0-1_20240101-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        parse_upload_form(form(pyversion="cp312")),
    )
    check_filename("Demo.Pkg-1.0-py2.py3-none-any.whl", parse_upload_form(form(pyversion="py2")))
    check_filename(
        "demo_pkg-1!1.0+local.2-py3-none-macosx_10_9_universal2.whl",
        parse_upload_form(form(version="1!1.0+local.2")),
    )
