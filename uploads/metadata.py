"""Reads core metadata out of a wheel or an sdist without extracting it. Pure functions."""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from typing import IO
from typing import Any

from packaging.metadata import InvalidMetadata
from packaging.metadata import Metadata
from packaging.metadata import parse_email
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename

# METADATA / PKG-INFO beyond this is not metadata but an attack on the worker's memory.
MAX_METADATA_BYTES = 10 * 1024 * 1024


class InvalidDistribution(Exception):
    """The file is not a distribution we accept; the message is shown to the uploader."""


@dataclass(frozen=True)
class CoreMetadata:
    # Exactly the bytes of METADATA / PKG-INFO: PEP 658 serves them unchanged.
    raw: bytes
    metadata: Metadata
    # packaging's RawMetadata: JSON-serializable, every field the file had.
    fields: dict[str, Any]


def read_core_metadata(fileobj: IO[bytes], filename: str, packagetype: str) -> CoreMetadata:
    """Extract, parse and validate the core metadata; check it names this file's release."""
    if packagetype == "bdist_wheel":
        raw = _wheel_metadata(fileobj, filename)
        name, version = parse_wheel_filename(filename)[:2]
    else:
        raw = _sdist_metadata(fileobj)
        name, version = parse_sdist_filename(filename)
    core = parse_core_metadata(raw)
    if canonicalize_name(core.metadata.name) != name:
        raise InvalidDistribution(
            f"Metadata name {core.metadata.name!r} does not match the filename {filename!r}."
        )
    if canonicalize_version(core.metadata.version) != canonicalize_version(version):
        raise InvalidDistribution(
            f"Metadata version {str(core.metadata.version)!r} does not match the filename "
            f"{filename!r}."
        )
    return core


def parse_core_metadata(raw: bytes) -> CoreMetadata:
    fields, _unparsed = parse_email(raw)
    try:
        metadata = Metadata.from_raw(fields, validate=True)
    except ExceptionGroup as group:
        problems = "; ".join(str(exc) for exc in group.exceptions)
        raise InvalidDistribution(f"Invalid distribution metadata: {problems}") from None
    except InvalidMetadata as exc:
        raise InvalidDistribution(f"Invalid distribution metadata: {exc}") from None
    return CoreMetadata(raw=raw, metadata=metadata, fields=dict(fields))


def _wheel_metadata(fileobj: IO[bytes], filename: str) -> bytes:
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile:
        raise InvalidDistribution("Invalid distribution file: File is not a zipfile.") from None
    with archive:
        names = archive.namelist()
        dist_infos = {
            n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")
        }
        if len(dist_infos) != 1:
            raise InvalidDistribution(
                f"Wheel '{filename}' must contain exactly one .dist-info directory."
            )
        dist_info = dist_infos.pop()
        for required in ("WHEEL", "METADATA"):
            if f"{dist_info}/{required}" not in names:
                raise InvalidDistribution(
                    f"Wheel '{filename}' does not contain the required {required} file: "
                    f"{dist_info}/{required}"
                )
        info = archive.getinfo(f"{dist_info}/METADATA")
        if info.file_size > MAX_METADATA_BYTES:
            raise InvalidDistribution(f"Wheel '{filename}' has an oversized METADATA file.")
        return archive.read(info)


def _sdist_metadata(fileobj: IO[bytes]) -> bytes:
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError):
        raise InvalidDistribution("Invalid distribution file: File is not a tarfile.") from None
    with archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError):
            raise InvalidDistribution("Invalid distribution file: corrupt tar archive.") from None
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) != 1:
            raise InvalidDistribution(
                "Invalid distribution file: Incorrect number of top-level directories in sdist."
            )
        top = tops.pop()
        pkg_info = next((m for m in members if m.name == f"{top}/PKG-INFO"), None)
        if pkg_info is None or not pkg_info.isfile():
            raise InvalidDistribution(
                f"Invalid distribution file: PKG-INFO not found at {top}/PKG-INFO."
            )
        if pkg_info.size > MAX_METADATA_BYTES:
            raise InvalidDistribution("Invalid distribution file: oversized PKG-INFO.")
        extracted = archive.extractfile(pkg_info)
        assert extracted is not None  # a regular file always extracts
        return extracted.read()
