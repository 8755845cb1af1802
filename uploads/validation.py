"""Checks on an upload's form and filename, before anything is stored. Pure functions."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import InvalidSdistFilename
from packaging.utils import InvalidWheelFilename
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion
from packaging.version import Version

from registry.names import normalize_name
from registry.names import normalize_version
from uploads.errors import NoLongerSupported
from uploads.errors import UploadError

SDIST = "sdist"
WHEEL = "bdist_wheel"
EXTENSIONS = {SDIST: ".tar.gz", WHEEL: ".whl"}
NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# Every character a valid name, PEP 440 version and wheel tag can spell: nothing that needs
# quoting in an index link or a Content-Disposition header, no look-alike of another letter.
FILENAME_CHARACTER_RE = re.compile(r"[A-Za-z0-9._+!-]")
FILENAME_CHARACTERS = "only ASCII letters, digits and '._-+!' may be used"
WHEEL_TAG_RE = re.compile(r"^[A-Za-z0-9_.]+$")
WHEEL_BUILD_TAG_RE = re.compile(r"^[0-9][A-Za-z0-9_]*$")
HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
HEX32_RE = re.compile(r"^[a-f0-9]{32}$")
# Form field -> name of the digest the upload handler computes.
DIGEST_FIELDS = {"sha256_digest": "sha256", "blake2_256_digest": "blake2_256", "md5_digest": "md5"}


@dataclass(frozen=True)
class UploadForm:
    name: str
    version: str
    filetype: str
    pyversion: str
    digests: dict[str, str]


def _field(form: Mapping[str, str], key: str) -> str:
    # Clients send "" or "UNKNOWN" for fields they do not have.
    value = (form.get(key) or "").strip()
    return "" if value == "UNKNOWN" else value


def parse_upload_form(form: Mapping[str, str]) -> UploadForm:
    """The fields the upload needs, checked; unknown and misnamed fields are ignored."""
    action = _field(form, ":action")
    if action in {"submit", "submit_pkg_info"}:
        raise NoLongerSupported(
            "Project pre-registration is no longer required or supported, "
            "upload your files instead.",
        )
    if action == "doc_upload":
        raise NoLongerSupported("Uploading documentation is not supported.")
    if action != "file_upload":
        raise UploadError("Unknown or missing ':action': use 'file_upload'.")
    if _field(form, "protocol_version") not in {"", "1"}:
        raise UploadError("Unknown protocol version.")

    name = _field(form, "name")
    if not name or not NAME_RE.match(name):
        raise UploadError(f"'{name}' is an invalid value for Name.")
    version = _field(form, "version")
    try:
        Version(version)
    except InvalidVersion:
        raise UploadError(f"'{version}' is an invalid value for Version.") from None
    filetype = _field(form, "filetype")
    if filetype not in EXTENSIONS:
        raise UploadError("Use a known file type: 'sdist' or 'bdist_wheel'.")
    pyversion = _field(form, "pyversion")
    if filetype == SDIST:
        pyversion = pyversion or "source"
        if pyversion != "source":
            raise UploadError("Use 'source' as Python version for an sdist.")
    elif not pyversion:
        raise UploadError("Python version is required for binary distribution uploads.")

    return UploadForm(
        name=name,
        version=version,
        filetype=filetype,
        pyversion=pyversion,
        digests=_parse_digests(form),
    )


def _parse_digests(form: Mapping[str, str]) -> dict[str, str]:
    digests = {}
    for field, algorithm in DIGEST_FIELDS.items():
        value = _field(form, field).lower()
        if not value:
            continue
        pattern = HEX32_RE if algorithm == "md5" else HEX64_RE
        if not pattern.match(value):
            raise UploadError(f"Invalid value for {field}: expected a hex digest.")
        digests[algorithm] = value
    if not digests:
        raise UploadError("Include at least one message digest.")
    return digests


def check_digests(sent: Mapping[str, str], computed: Mapping[str, str]) -> None:
    for algorithm, value in sent.items():
        if not hmac.compare_digest(value, computed[algorithm]):
            raise UploadError(
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )


def check_filename(filename: str, form: UploadForm) -> None:
    """Safe characters, the right extension, and a name and version that match the form."""
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise UploadError(
            "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
            "character (ordinal 127) in the name.",
        )
    if "/" in filename or "\\" in filename:
        raise UploadError("Cannot upload a file with '/' or '\\' in the name.")
    extension = EXTENSIONS[form.filetype]
    if not filename.endswith(extension):
        raise UploadError(f"Invalid file extension: use {extension} for filetype {form.filetype}.")
    for character in filename:
        if not FILENAME_CHARACTER_RE.fullmatch(character):
            raise UploadError(
                f"Cannot upload a file with the character {character!a} in the name: "
                f"{FILENAME_CHARACTERS}.",
            )
    file_name, file_version = _name_and_version(filename, form.filetype)
    if file_name != normalize_name(form.name):
        raise UploadError(
            f"Filename {filename!r} does not match the project name {form.name!r} in the form.",
        )
    if normalize_version(file_version) != normalize_version(form.version):
        raise UploadError(
            f"Version in filename should be {form.version!r} not {str(file_version)!r}.",
        )


def _name_and_version(filename: str, filetype: str) -> tuple[str, Version]:
    try:
        if filetype == WHEEL:
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise UploadError(f"Invalid distribution filename: {exc}") from None
    if filetype == WHEEL:
        _check_wheel_tags(filename)
    return name, version


def _check_wheel_tags(filename: str) -> None:
    """packaging accepts any character in a tag or after a build number's first digit; real
    tags use only these, and anything else would reach index links and headers."""
    parts = filename.removesuffix(EXTENSIONS[WHEEL]).split("-")
    *_, python, abi, platform = parts
    if len(parts) == 6 and not WHEEL_BUILD_TAG_RE.fullmatch(parts[2]):
        raise UploadError(
            f"Invalid wheel filename: the build tag {parts[2]!r} must be a digit followed by "
            "ASCII letters, digits and '_'.",
        )
    for kind, tag in (("Python", python), ("ABI", abi), ("platform", platform)):
        if not WHEEL_TAG_RE.fullmatch(tag):
            raise UploadError(
                f"Invalid wheel filename: the {kind} tag {tag!r} may only contain ASCII letters, "
                "digits, '_' and '.'.",
            )


def form_fields_from_filename(filename: str) -> dict[str, str]:
    """The legacy form fields a distribution's filename implies, for uploads that send only
    the file (the REST API). The usual checks then run on them, and on the file's metadata."""
    fields = {":action": "file_upload", "protocol_version": "1"}
    try:
        if filename.endswith(EXTENSIONS[WHEEL]):
            _, version, _, tags = parse_wheel_filename(filename)
            pyversion = ".".join(sorted({t.interpreter for t in tags}))
            # The name as spelled in the filename; the checks compare it normalized.
            name = filename.split("-", 1)[0]
            return fields | {"name": name, "version": str(version), "filetype": WHEEL,
                             "pyversion": pyversion}  # fmt: skip
        if filename.endswith(EXTENSIONS[SDIST]):
            _, version = parse_sdist_filename(filename)
            name = filename.removesuffix(EXTENSIONS[SDIST]).rpartition("-")[0]
            return fields | {"name": name, "version": str(version), "filetype": SDIST}
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    raise UploadError(
        f"Invalid distribution filename '{filename}': expected a wheel or a .tar.gz sdist."
    )
