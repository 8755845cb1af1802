"""Defensive checks of a distribution archive, and the core metadata read out of it. Pure.

Runs before anything is stored, on the file the upload streamed to disk: only archives that a
packaging tool could have built pass, and no archive can make the server decompress more than
a bounded multiple of what was sent.
"""

from __future__ import annotations

import posixpath
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

# Warehouse's numbers: above 64 MiB of content an archive may be at most 50 times its size.
MAX_COMPRESSION_RATIO = 50
RATIO_CHECK_ABOVE = 64 * 1024 * 1024
# More members than any real distribution has; past this the archive is an attack.
MAX_MEMBERS = 100_000
# METADATA / PKG-INFO beyond this is not metadata but an attack on the server's memory.
MAX_METADATA_BYTES = 10 * 1024 * 1024
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
LOCAL_HEADER = b"PK\x03\x04"
LOCAL_HEADER_STRUCT = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class ArchiveContents:
    """What the metadata checks need from a checked archive."""

    # The METADATA / PKG-INFO bytes, unchanged.
    metadata: bytes
    members: frozenset[str]
    # Where License-File paths are relative to: `<dist-info>/licenses` or the sdist's top.
    license_root: str


class InvalidDistribution(Exception):
    """The file is not a distribution we accept; the message is shown to the uploader."""


def _invalid(message: str) -> InvalidDistribution:
    return InvalidDistribution(f"Invalid distribution file. {message}")


def wheel_contents(fileobj: IO[bytes], filename: str, *, size: int) -> ArchiveContents:
    """Check a wheel's framing and layout; return its `.dist-info/METADATA` bytes."""
    _reject_polyglot_tar(fileobj)
    archive = _open_zip(fileobj)
    with archive:
        infos = archive.infolist()
        _check_zip_members(fileobj, infos, size=size)
        names = {info.filename for info in infos}
        dist_infos = {
            n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")
        }
        if len(dist_infos) != 1:
            raise InvalidDistribution(
                f"Wheel '{filename}' must contain exactly one .dist-info directory, "
                f"not {len(dist_infos)}."
            )
        dist_info = dist_infos.pop()
        for required in ("WHEEL", "METADATA", "RECORD"):
            if f"{dist_info}/{required}" not in names:
                raise InvalidDistribution(
                    f"Wheel '{filename}' does not contain the required {required} file: "
                    f"{dist_info}/{required}"
                )
        return ArchiveContents(
            metadata=_read_zip_member(archive, f"{dist_info}/METADATA", filename),
            members=frozenset(names),
            license_root=f"{dist_info}/licenses",
        )


def _reject_polyglot_tar(fileobj: IO[bytes]) -> None:
    fileobj.seek(0)
    try:
        is_tar = tarfile.is_tarfile(fileobj)
    except (OSError, EOFError, tarfile.TarError):
        is_tar = False
    fileobj.seek(0)
    if is_tar:
        raise _invalid("File is both a zip and a tar file.")


def _open_zip(fileobj: IO[bytes]) -> zipfile.ZipFile:
    fileobj.seek(0)
    if fileobj.read(4) != LOCAL_HEADER:
        # Data before the first entry is how zip polyglots and self-extractors are made.
        raise _invalid("File is not a zipfile.")
    fileobj.seek(0)
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise _invalid("File is not a zipfile.") from None


def _check_zip_members(fileobj: IO[bytes], infos: list[zipfile.ZipInfo], *, size: int) -> None:
    if len(infos) > MAX_MEMBERS:
        raise _invalid(f"Archive has more than {MAX_MEMBERS} members.")
    seen: set[str] = set()
    uncompressed = 0
    for info in infos:
        _check_member_name(info.filename)
        if info.filename in seen:
            raise _invalid(f"ZIP archive not accepted: duplicate entry {info.filename!r}.")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise _invalid(f"ZIP archive not accepted: {info.filename!r} is encrypted.")
        if info.compress_type not in ZIP_METHODS:
            raise _invalid("File does not use a supported compression type.")
        _check_local_header(fileobj, info)
        uncompressed += info.file_size
    _check_ratio(uncompressed, size)


def _check_local_header(fileobj: IO[bytes], info: zipfile.ZipInfo) -> None:
    """Each central directory entry must point at a local header naming the same file, or
    two zip readers could see two different archives in the same bytes."""
    if info.header_offset < 0:
        raise _invalid("ZIP archive not accepted: entries point outside the archive.")
    fileobj.seek(info.header_offset)
    header = fileobj.read(LOCAL_HEADER_STRUCT.size)
    if len(header) != LOCAL_HEADER_STRUCT.size:
        raise _invalid("ZIP archive not accepted: truncated local header.")
    fields = LOCAL_HEADER_STRUCT.unpack(header)
    name = fileobj.read(fields[9])
    if fields[0] != LOCAL_HEADER or name.decode("utf-8", "replace") != info.filename:
        raise _invalid(
            f"ZIP archive not accepted: local header of {info.filename!r} does not match "
            "the central directory."
        )


def _read_zip_member(archive: zipfile.ZipFile, name: str, filename: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_METADATA_BYTES:
        raise InvalidDistribution(f"Wheel '{filename}' has an oversized {name}.")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_METADATA_BYTES + 1)
    except (
        zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, RuntimeError,
        NotImplementedError,
    ) as exc:  # fmt: skip
        raise _invalid(f"ZIP archive not accepted: {exc}.") from None
    if len(data) > MAX_METADATA_BYTES:
        raise InvalidDistribution(f"Wheel '{filename}' has an oversized {name}.")
    return data


def sdist_contents(fileobj: IO[bytes], filename: str, *, size: int) -> ArchiveContents:
    """Check a `.tar.gz` sdist's framing and layout; return its `PKG-INFO` bytes."""
    fileobj.seek(0)
    if zipfile.is_zipfile(fileobj):
        raise _invalid("File is both a zip and a tar file.")
    _check_gzip_ratio(fileobj, size=size)
    fileobj.seek(0)
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError):
        raise _invalid("File is not a tarfile.") from None
    with archive:
        members = _tar_members(archive)
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) != 1:
            raise _invalid("Incorrect number of top-level directories in sdist.")
        top = tops.pop()
        pkg_info = next((m for m in members if m.name == f"{top}/PKG-INFO"), None)
        if pkg_info is None or not pkg_info.isfile():
            raise _invalid(f"PKG-INFO not found at {top}/PKG-INFO.")
        if pkg_info.size > MAX_METADATA_BYTES:
            raise _invalid(f"{top}/PKG-INFO is oversized.")
        extracted = archive.extractfile(pkg_info)
        if extracted is None:
            raise _invalid(f"PKG-INFO not found at {top}/PKG-INFO.")
        try:
            metadata = extracted.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            raise _invalid("File is not a tarfile.") from None
        names = frozenset(m.name for m in members)
        return ArchiveContents(metadata=metadata, members=names, license_root=top)


def _check_gzip_ratio(fileobj: IO[bytes], *, size: int) -> None:
    """Decompress as a stream, never holding more than a chunk, and stop at the ratio limit."""
    limit = max(RATIO_CHECK_ABOVE, size * MAX_COMPRESSION_RATIO)
    fileobj.seek(0)
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        while chunk := fileobj.read(1024 * 1024):
            while chunk:
                total += len(decompressor.decompress(chunk, 1024 * 1024))
                if total > limit:
                    raise _invalid(f"File exceeds compression ratio of {MAX_COMPRESSION_RATIO}.")
                chunk = decompressor.unconsumed_tail
            if decompressor.eof:
                # A second gzip member or trailing bytes: not what sdist builders write.
                if decompressor.unused_data or fileobj.read(1):
                    raise _invalid("File is not a tarfile: data after the gzip stream.")
                return
    except zlib.error:
        raise _invalid("File is not a tarfile.") from None
    raise _invalid("File is not a tarfile: truncated gzip stream.")


def _tar_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    try:
        for member in archive:
            members.append(member)
            if len(members) > MAX_MEMBERS:
                raise _invalid(f"Archive has more than {MAX_MEMBERS} members.")
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise _invalid("File is not a tarfile.") from None
    for member in members:
        _check_member_name(member.name)
        if member.issparse():
            raise _invalid("tar archive not accepted: Sparse members are not allowed.")
        if not (member.isfile() or member.isdir() or member.issym()):
            raise _invalid(f"tar archive not accepted: {member.name!r} is not a regular file.")
    return members


def _check_member_name(name: str) -> None:
    """No absolute paths, no `..`, no control characters: nothing that escapes on unpacking."""
    normalized = posixpath.normpath(name)
    if (
        name.startswith(("/", "\\"))
        or normalized == ".."
        or normalized.startswith("../")
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise _invalid(f"Archive member {name!r} has an unsafe path.")


def _check_ratio(uncompressed: int, size: int) -> None:
    if uncompressed > RATIO_CHECK_ABOVE and uncompressed > size * MAX_COMPRESSION_RATIO:
        raise _invalid(f"File exceeds compression ratio of {MAX_COMPRESSION_RATIO}.")
