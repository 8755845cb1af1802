"""Reads core metadata out of a wheel or an sdist without extracting it. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO
from typing import Any
from typing import cast

# packaging's own header-to-field table, so error fields map back to raw keys.
from packaging.metadata import _EMAIL_TO_RAW_MAPPING
from packaging.metadata import InvalidMetadata
from packaging.metadata import Metadata
from packaging.metadata import RawMetadata
from packaging.metadata import parse_email
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename

from registry.names import normalize_name
from registry.names import normalize_version
from uploads.archives import ArchiveContents
from uploads.archives import InvalidDistribution
from uploads.archives import sdist_contents
from uploads.archives import wheel_contents

__all__ = ["CoreMetadata", "InvalidDistribution", "parse_core_metadata", "read_core_metadata"]


@dataclass(frozen=True)
class CoreMetadata:
    # Exactly the bytes of METADATA / PKG-INFO: PEP 658 serves them unchanged.
    raw: bytes
    metadata: Metadata
    # packaging's RawMetadata: JSON-serializable, every field the file had.
    fields: dict[str, Any]


def read_core_metadata(
    fileobj: IO[bytes], filename: str, packagetype: str, *, size: int | None = None
) -> CoreMetadata:
    """Check the archive, then parse and validate its core metadata, which must name this
    file's release: the file, not the form, is the source of truth.

    Any sdist name packaging parses is accepted when its normalized name and version are the
    metadata's: setuptools before 69.3 wrote `Django-5.1.3.tar.gz`, not PEP 625's
    `django-5.1.3.tar.gz`. A release still gets at most one sdist, however it is spelled: the
    upload service and a database constraint see to that."""
    if size is None:
        size = fileobj.seek(0, 2)
    if packagetype == "bdist_wheel":
        contents = wheel_contents(fileobj, filename, size=size)
        name, version = parse_wheel_filename(filename)[:2]
    else:
        contents = sdist_contents(fileobj, filename, size=size)
        name, version = parse_sdist_filename(filename)
    core = parse_core_metadata(contents.metadata)
    if normalize_name(core.metadata.name) != name:
        raise InvalidDistribution(
            f"Metadata name {core.metadata.name!r} does not match the filename {filename!r}."
        )
    if normalize_version(core.metadata.version) != normalize_version(version):
        raise InvalidDistribution(
            f"Metadata version {str(core.metadata.version)!r} does not match the filename "
            f"{filename!r}."
        )
    _check_license_files(filename, core.metadata, contents)
    return core


def _check_license_files(filename: str, metadata: Metadata, contents: ArchiveContents) -> None:
    # Core metadata 2.4: every License-File must ship in the distribution.
    for path in metadata.license_files or []:
        member = f"{contents.license_root}/{path}"
        if member not in contents.members:
            raise InvalidDistribution(
                f"License-File {path} does not exist in distribution file {filename} at {member}"
            )


def check_core_metadata_matches_form(core: CoreMetadata, *, name: str, version: str) -> None:
    """The form's name and version are what the client says it uploads; they must agree."""
    if normalize_name(core.metadata.name) != normalize_name(name):
        raise InvalidDistribution(
            f"The form's name {name!r} does not match the name {core.metadata.name!r} "
            "in the file's metadata."
        )
    if normalize_version(core.metadata.version) != normalize_version(version):
        raise InvalidDistribution(
            f"The form's version {version!r} does not match the version "
            f"{str(core.metadata.version)!r} in the file's metadata."
        )


def parse_core_metadata(raw: bytes) -> CoreMetadata:
    """Any Metadata-Version from 1.0 to 2.5, validated as packaging validates it.

    Headers packaging does not know are ignored, as the core metadata spec asks readers to.
    A field newer than the declared Metadata-Version is dropped rather than refused: older
    setuptools wrote `License-File` into 2.1 metadata, and PyPI accepts those wheels.
    """
    raw_fields, _unknown = parse_email(raw)
    fields: dict[str, Any] = dict(raw_fields)
    for _attempt in range(2):
        try:
            metadata = Metadata.from_raw(cast(RawMetadata, fields), validate=True)
        except ExceptionGroup as group:
            newer = _fields_newer_than_declared(group)
            if newer and len(newer) == len(group.exceptions):
                fields = {k: v for k, v in fields.items() if k not in newer}
                continue
            problems = "; ".join(str(exc) for exc in group.exceptions)
            raise InvalidDistribution(f"Invalid distribution metadata: {problems}") from None
        except InvalidMetadata as exc:
            raise InvalidDistribution(f"Invalid distribution metadata: {exc}") from None
        return CoreMetadata(raw=raw, metadata=metadata, fields=fields)
    raise InvalidDistribution("Invalid distribution metadata.")


def _fields_newer_than_declared(group: ExceptionGroup) -> set[str]:
    return {
        _EMAIL_TO_RAW_MAPPING.get(exc.field, exc.field)
        for exc in group.exceptions
        if isinstance(exc, InvalidMetadata) and "introduced in metadata version" in str(exc)
    }
