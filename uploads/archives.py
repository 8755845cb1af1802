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
END_RECORD = b"PK\x05\x06"
END_RECORD_STRUCT = struct.Struct("<4s4H2LH")
ZIP64_LOCATOR = b"PK\x06\x07"
ZIP64_LOCATOR_SIZE = 20
ZIP64_END_RECORD = b"PK\x06\x06"
ZIP64_END_RECORD_STRUCT = struct.Struct("<4sQ2H2L4Q")
DATA_DESCRIPTOR = b"PK\x07\x08"
ZIP64_EXTRA_ID = 0x0001
# General purpose flag bit 3: sizes and CRC follow the data, in a data descriptor.
FLAG_DATA_DESCRIPTOR = 0x08


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
        central_directory = _check_zip_end(fileobj)
        _check_zip_members(fileobj, infos, size=size, central_directory=central_directory)
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
        metadata = _read_zip_member(archive, f"{dist_info}/METADATA", filename)
        _check_utf8(metadata, f"{dist_info}/METADATA")
        return ArchiveContents(
            metadata=metadata,
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


def _check_zip_end(fileobj: IO[bytes]) -> int:
    """The archive must end exactly with its end record and comment, right after the central
    directory; return where the central directory starts. Finds the end record as Python's
    zipfile does, so both look at the same one."""
    end = fileobj.seek(0, 2)
    tail_start = max(0, end - END_RECORD_STRUCT.size - 0xFFFF)
    fileobj.seek(tail_start)
    tail = fileobj.read()
    last = len(tail) - END_RECORD_STRUCT.size
    if last >= 0 and tail[last : last + 4] == END_RECORD and tail[-2:] == b"\x00\x00":
        position = last
    else:
        position = tail.rfind(END_RECORD)
    if position < 0 or position > last:
        raise _invalid("File is not a zipfile.")
    fields = END_RECORD_STRUCT.unpack_from(tail, position)
    if position + END_RECORD_STRUCT.size + fields[7] != len(tail):
        raise _invalid("ZIP archive not accepted: data after the end of the central directory.")
    directory_end = tail_start + position
    directory_size, directory_offset = fields[5], fields[6]
    if directory_end >= ZIP64_LOCATOR_SIZE:
        fileobj.seek(directory_end - ZIP64_LOCATOR_SIZE)
        if fileobj.read(4) == ZIP64_LOCATOR:
            # Like Python's zipfile: the zip64 end record (without extensible data) sits
            # right before its locator.
            directory_end -= ZIP64_LOCATOR_SIZE + ZIP64_END_RECORD_STRUCT.size
            fileobj.seek(max(directory_end, 0))
            record = fileobj.read(ZIP64_END_RECORD_STRUCT.size)
            if directory_end < 0 or len(record) != ZIP64_END_RECORD_STRUCT.size:
                raise _invalid("ZIP archive not accepted: malformed zip64 end record.")
            fields64 = ZIP64_END_RECORD_STRUCT.unpack(record)
            if fields64[0] != ZIP64_END_RECORD or fields64[1] != ZIP64_END_RECORD_STRUCT.size - 12:
                raise _invalid("ZIP archive not accepted: malformed zip64 end record.")
            directory_size, directory_offset = fields64[8], fields64[9]
    if directory_offset + directory_size != directory_end:
        raise _invalid(
            "ZIP archive not accepted: the central directory does not end at its end record."
        )
    return directory_offset


def _check_zip_members(
    fileobj: IO[bytes], infos: list[zipfile.ZipInfo], *, size: int, central_directory: int
) -> None:
    if len(infos) > MAX_MEMBERS:
        raise _invalid(f"Archive has more than {MAX_MEMBERS} members.")
    seen: set[str] = set()
    uncompressed = 0
    extents = []
    for info in infos:
        _check_member_name(info.filename)
        if info.filename in seen:
            raise _invalid(f"ZIP archive not accepted: duplicate entry {info.filename!r}.")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise _invalid(f"ZIP archive not accepted: {info.filename!r} is encrypted.")
        if info.compress_type not in ZIP_METHODS:
            raise _invalid("File does not use a supported compression type.")
        extents.append((info.header_offset, _check_local_header(fileobj, info), info.filename))
        uncompressed += info.file_size
    _check_contiguous(extents, central_directory)
    _check_ratio(uncompressed, size)


def _check_contiguous(extents: list[tuple[int, int, str]], central_directory: int) -> None:
    """Entries follow each other from the first byte to the central directory: no byte that
    no entry covers (a place to hide a second archive), none that two entries share."""
    position, previous = 0, None
    for start, end, name in sorted(extents):
        if start > position:
            raise _invalid(
                f"ZIP archive not accepted: {start - position} bytes before the entry {name!r} "
                "belong to no entry."
            )
        if start < position:
            raise _invalid(f"ZIP archive not accepted: entries {previous!r} and {name!r} overlap.")
        position, previous = end, name
    if central_directory > position:
        raise _invalid(
            f"ZIP archive not accepted: {central_directory - position} bytes before the central "
            "directory belong to no entry."
        )
    if central_directory < position:
        raise _invalid(
            f"ZIP archive not accepted: entry {previous!r} overlaps the central directory."
        )


def _check_local_header(fileobj: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Each central directory entry must point at a local header naming the same file and
    giving the same sizes, or two zip readers could see two different archives in the same
    bytes. Returns where the entry ends: header, name, extra, data, data descriptor."""
    if info.header_offset < 0:
        raise _invalid("ZIP archive not accepted: entries point outside the archive.")
    fileobj.seek(info.header_offset)
    header = fileobj.read(LOCAL_HEADER_STRUCT.size)
    if len(header) != LOCAL_HEADER_STRUCT.size:
        raise _invalid("ZIP archive not accepted: truncated local header.")
    signature, _, flags, _, _, _, crc, compressed, _, name_size, extra_size = (
        LOCAL_HEADER_STRUCT.unpack(header)
    )
    name = fileobj.read(name_size)
    extra = fileobj.read(extra_size)
    mismatch = _invalid(
        f"ZIP archive not accepted: local header of {info.filename!r} does not match "
        "the central directory."
    )
    if signature != LOCAL_HEADER or name.decode("utf-8", "replace") != info.filename:
        raise mismatch
    zip64 = _zip64_sizes(extra)
    data_end = (
        info.header_offset + LOCAL_HEADER_STRUCT.size + name_size + extra_size + info.compress_size
    )
    if not flags & FLAG_DATA_DESCRIPTOR:
        if compressed == 0xFFFFFFFF and zip64 is not None:
            compressed = zip64[1]
        if crc != info.CRC or compressed != info.compress_size:
            raise mismatch
        return data_end
    # The sizes follow the data: an optional signature, the CRC, then two sizes of 8 bytes
    # when the local header has a zip64 field, else of 4.
    fileobj.seek(data_end)
    descriptor = fileobj.read(24)
    signed = descriptor[:4] == DATA_DESCRIPTOR
    layout = struct.Struct("<LQQ" if zip64 is not None else "<LLL")
    length = layout.size + (4 if signed else 0)
    if len(descriptor) < length:
        raise _invalid(f"ZIP archive not accepted: truncated data descriptor of {info.filename!r}.")
    crc, compressed, _ = layout.unpack_from(descriptor, 4 if signed else 0)
    if crc != info.CRC or compressed != info.compress_size:
        raise _invalid(
            f"ZIP archive not accepted: data descriptor of {info.filename!r} does not match "
            "the central directory."
        )
    return data_end + length


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    """(uncompressed, compressed) from a local header's zip64 extra field, if it has one."""
    while len(extra) >= 4:
        field_id, field_size = struct.unpack_from("<2H", extra)
        body = extra[4 : 4 + field_size]
        if field_id == ZIP64_EXTRA_ID:
            if len(body) < 16:
                raise _invalid("ZIP archive not accepted: malformed zip64 extra field.")
            return struct.unpack_from("<2Q", body)
        extra = extra[4 + field_size :]
    return None


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
        _check_utf8(metadata, f"{top}/PKG-INFO")
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
    seen: set[str] = set()
    for member in members:
        _check_member_name(member.name)
        # Links are how an archive writes outside the folder it is unpacked in; no sdist
        # builder needs them (they store the file a link points to).
        if member.issym():
            raise _invalid(f"tar archive not accepted: {member.name!r} is a symbolic link.")
        if member.islnk():
            raise _invalid(f"tar archive not accepted: {member.name!r} is a hard link.")
        if member.issparse():
            raise _invalid("tar archive not accepted: Sparse members are not allowed.")
        if not (member.isfile() or member.isdir()):
            raise _invalid(f"tar archive not accepted: {member.name!r} is not a regular file.")
        # One path, one member: we read the first copy, an unpacking installer keeps the last.
        path = posixpath.normpath(member.name)
        if path in seen:
            raise _invalid(f"tar archive not accepted: duplicate entry {path!r}.")
        seen.add(path)
    return members


def _check_utf8(metadata: bytes, member: str) -> None:
    """Core metadata is UTF-8: anything else would be read one way here, another elsewhere."""
    try:
        metadata.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"{member} is not valid UTF-8 (invalid byte 0x{metadata[exc.start]:02x} at offset "
            f"{exc.start})."
        ) from None


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
