"""Archive framing checks that need hand-made bytes: tricks no packaging tool produces."""

from __future__ import annotations

import io
import random
import tarfile
import zipfile

import pytest

from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import link
from tests.fixtures.hostile import sdist_with
from uploads.archives import InvalidDistribution
from uploads.archives import sdist_contents
from uploads.archives import wheel_contents
from uploads.metadata import read_core_metadata

WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def check_wheel(data: bytes) -> bytes:
    return wheel_contents(io.BytesIO(data), WHEEL, size=len(data)).metadata


def check_sdist(data: bytes) -> bytes:
    return sdist_contents(io.BytesIO(data), "demo_pkg-1.0.tar.gz", size=len(data)).metadata


def test_it_refuses_a_zip_whose_local_header_names_another_file() -> None:
    data = wheel_bytes(PACKAGE)
    # Rename the first entry in its local header only: two readers would disagree.
    first = data.index(b"demo_pkg/__init__.py")
    forged = data[:first] + b"demo_pkg/__evil__.py" + data[first + 20 :]
    with pytest.raises(InvalidDistribution, match="does not match the central directory"):
        check_wheel(forged)


def test_it_refuses_a_zip_with_two_entries_of_one_name() -> None:
    buffer = io.BytesIO(wheel_bytes(PACKAGE))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("demo_pkg/__init__.py", b"print('second')\n")
    with pytest.raises(InvalidDistribution, match="duplicate entry"):
        check_wheel(buffer.getvalue())


def test_it_refuses_data_before_the_first_zip_entry() -> None:
    with pytest.raises(InvalidDistribution, match="not a zipfile"):
        check_wheel(b"MZ" + wheel_bytes(PACKAGE))


def test_it_refuses_device_files_in_an_sdist() -> None:
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(sdist_bytes(PACKAGE)), mode="r:gz") as source,
        tarfile.open(fileobj=buffer, mode="w:gz") as archive,
    ):
        for member in source:
            archive.addfile(member, source.extractfile(member))
        device = tarfile.TarInfo("demo_pkg-1.0/null")
        device.type = tarfile.CHRTYPE
        archive.addfile(device)
    with pytest.raises(InvalidDistribution, match="is not a regular file"):
        check_sdist(buffer.getvalue())


def test_it_refuses_bytes_after_the_gzip_stream() -> None:
    with pytest.raises(InvalidDistribution, match="data after the gzip stream"):
        check_sdist(sdist_bytes(PACKAGE) + b"trailing")


def test_it_returns_the_metadata_of_good_archives_unchanged() -> None:
    assert check_wheel(wheel_bytes(PACKAGE)) == PACKAGE.metadata().encode()
    assert check_sdist(sdist_bytes(PACKAGE)) == PACKAGE.metadata().encode()


# The seeded corruptions (below) that still read as the same release: bytes changed only in
# fields no reader checks (timestamps, attributes) or inside members other than the metadata,
# whose CRC is checked only when pip unpacks them. Every other corruption must be refused.
STILL_READABLE = {
    "bdist_wheel": {
        1, 9, 45, 60, 83, 87, 91, 116, 176, 187, 238, 298, 314, 318, 329, 344, 377, 378, 414,
        431, 473, 485, 495, 504, 525, 528, 558, 561, 577, 594,
    },
    "sdist": {292},
}  # fmt: skip


def corruptions(data: bytes, count: int) -> list[bytes]:
    """`count` seeded random corruptions of `data`: changed, deleted and inserted bytes."""
    rng = random.Random(20261125)  # noqa: S311 - reproducible corruption, not a secret
    result = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.6:
                mutated[position] = rng.randrange(256)
            elif choice < 0.8:
                del mutated[position : position + rng.randint(1, 50)]
            else:
                mutated[position:position] = rng.randbytes(rng.randint(1, 20))
        result.append(bytes(mutated))
    return result


@pytest.mark.parametrize("kind", ["bdist_wheel", "sdist"])
def test_it_refuses_corrupted_archives_or_reads_their_metadata_intact(kind: str) -> None:
    """A corrupted archive is refused with a reason (anything else would be a 500), unless
    the corruption left the metadata readable: then it is exactly the original's."""
    data = wheel_bytes(PACKAGE) if kind == "bdist_wheel" else sdist_bytes(PACKAGE)
    filename = wheel_filename(PACKAGE) if kind == "bdist_wheel" else sdist_filename(PACKAGE)
    original = read_core_metadata(io.BytesIO(data), filename, kind).raw
    for index, mutated in enumerate(corruptions(data, 600)):
        if index in STILL_READABLE[kind]:
            assert read_core_metadata(io.BytesIO(mutated), filename, kind).raw == original
        else:
            with pytest.raises(InvalidDistribution):
                read_core_metadata(io.BytesIO(mutated), filename, kind)


def test_it_refuses_a_symlink_in_an_sdist() -> None:
    # Extracted without a filter, this writes wherever the link points on the next member.
    data = sdist_with(link("demo_pkg-1.0/escape", tarfile.SYMTYPE, "../../../../tmp"))
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. tar archive not accepted: "
        r"'demo_pkg-1\.0/escape' is a symbolic link\.$",
    ):
        check_sdist(data)


def test_it_refuses_a_symlink_that_stays_inside_the_sdist() -> None:
    data = sdist_with(link("demo_pkg-1.0/alias.py", tarfile.SYMTYPE, "demo_pkg/__init__.py"))
    with pytest.raises(InvalidDistribution, match=r"'demo_pkg-1\.0/alias\.py' is a symbolic link"):
        check_sdist(data)


def test_it_refuses_a_hard_link_in_an_sdist() -> None:
    data = sdist_with(link("demo_pkg-1.0/passwd", tarfile.LNKTYPE, "/etc/passwd"))
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. tar archive not accepted: "
        r"'demo_pkg-1\.0/passwd' is a hard link\.$",
    ):
        check_sdist(data)


def test_it_refuses_a_second_pkg_info_in_an_sdist() -> None:
    """The server would read the first PKG-INFO, an installer extracting in order the last."""
    second = tarfile.TarInfo("demo_pkg-1.0/PKG-INFO")
    forged = b"Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\nRequires-Dist: evil\n"
    data = sdist_with(second, data={"demo_pkg-1.0/PKG-INFO": forged})
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. tar archive not accepted: "
        r"duplicate entry 'demo_pkg-1\.0/PKG-INFO'\.$",
    ):
        check_sdist(data)


def test_it_refuses_two_spellings_of_one_path_in_an_sdist() -> None:
    second = tarfile.TarInfo("demo_pkg-1.0/./demo_pkg//__init__.py")
    data = sdist_with(second, data={second.name: b"print('second')\n"})
    with pytest.raises(
        InvalidDistribution, match=r"duplicate entry 'demo_pkg-1\.0/demo_pkg/__init__\.py'"
    ):
        check_sdist(data)


def test_it_refuses_pkg_info_that_is_not_utf8() -> None:
    members = {
        "demo_pkg-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n"
        b"Summary: caf\xe9\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. demo_pkg-1\.0/PKG-INFO is not valid UTF-8 "
        r"\(invalid byte 0xe9 at offset 62\)\.$",
    ):
        check_sdist(buffer.getvalue())


def test_it_refuses_wheel_metadata_that_is_not_utf8() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("WHEEL", "RECORD"):
            archive.writestr(f"demo_pkg-1.0.dist-info/{name}", b"")
        archive.writestr(
            "demo_pkg-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\nSummary: \xff\xfe\n",
        )
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. demo_pkg-1\.0\.dist-info/METADATA is not valid "
        r"UTF-8 \(invalid byte 0xff at offset 59\)\.$",
    ):
        check_wheel(buffer.getvalue())


def test_it_refuses_bytes_after_the_end_of_the_central_directory() -> None:
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. ZIP archive not accepted: "
        r"data after the end of the central directory\.$",
    ):
        check_wheel(wheel_bytes(PACKAGE) + b"trailing garbage")


def test_it_refuses_an_archive_comment_that_does_not_reach_the_end() -> None:
    data = wheel_bytes(PACKAGE)
    # Declare a 4-byte comment but append 12 bytes: the last 8 belong to nothing.
    with_comment = data[:-2] + (4).to_bytes(2, "little") + b"note" + b"hidden!!"
    with pytest.raises(InvalidDistribution, match="data after the end of the central directory"):
        check_wheel(with_comment)


def test_it_accepts_an_archive_comment() -> None:
    buffer = io.BytesIO(wheel_bytes(PACKAGE))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"built by hand"
    assert check_wheel(buffer.getvalue()) == PACKAGE.metadata().encode()


def zip_with_gap(position: str) -> bytes:
    """The demo wheel rebuilt by hand with 16 bytes that no entry covers."""
    source = wheel_bytes(PACKAGE)
    with zipfile.ZipFile(io.BytesIO(source)) as archive:
        infos = archive.infolist()
        start_dir = archive.start_dir
    gap = b"\x00hidden payload\x00"
    after = infos[1].header_offset if position == "between entries" else start_dir
    shifted = source[:after] + gap + source[after:]
    # Move every offset at or past the gap: central directory entries, then the end record.
    out = bytearray(shifted)
    cursor = start_dir + len(gap)
    for _ in infos:
        assert out[cursor : cursor + 4] == b"PK\x01\x02"
        offset = int.from_bytes(out[cursor + 42 : cursor + 46], "little")
        if offset >= after:
            out[cursor + 42 : cursor + 46] = (offset + len(gap)).to_bytes(4, "little")
        lengths = [int.from_bytes(out[cursor + i : cursor + i + 2], "little") for i in (28, 30, 32)]
        cursor += 46 + sum(lengths)
    assert out[cursor : cursor + 4] == b"PK\x05\x06"
    out[cursor + 16 : cursor + 20] = (start_dir + len(gap)).to_bytes(4, "little")
    return bytes(out)


def test_it_refuses_bytes_between_two_zip_entries() -> None:
    data = zip_with_gap("between entries")
    # Python's zipfile itself reads every member of it without complaint.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. ZIP archive not accepted: 16 bytes before "
        r"the entry 'demo_pkg-1\.0\.dist-info/METADATA' belong to no entry\.$",
    ):
        check_wheel(data)


def test_it_refuses_bytes_between_the_last_entry_and_the_central_directory() -> None:
    data = zip_with_gap("before the central directory")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    with pytest.raises(
        InvalidDistribution,
        match=r"^Invalid distribution file\. ZIP archive not accepted: 16 bytes before "
        r"the central directory belong to no entry\.$",
    ):
        check_wheel(data)


def test_it_refuses_two_entries_sharing_their_bytes() -> None:
    """Central directory entries that point into one local entry: the classic overlap bomb."""
    source = wheel_bytes(PACKAGE)
    with zipfile.ZipFile(io.BytesIO(source)) as archive:
        infos = archive.infolist()
        start_dir = archive.start_dir
    out = bytearray(source)
    # Point the second central entry at the first entry's local header.
    cursor = start_dir
    lengths = [int.from_bytes(out[cursor + i : cursor + i + 2], "little") for i in (28, 30, 32)]
    cursor += 46 + sum(lengths)
    out[cursor + 42 : cursor + 46] = infos[0].header_offset.to_bytes(4, "little")
    with pytest.raises(InvalidDistribution, match="ZIP archive not accepted"):
        check_wheel(bytes(out))


def test_it_accepts_entries_followed_by_data_descriptors() -> None:
    """What a zip writer streaming to a pipe makes: sizes after the data, flag bit 3 set."""

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buffer = io.BytesIO()

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            return self.buffer.write(data)

    stream = Unseekable()
    with (
        zipfile.ZipFile(io.BytesIO(wheel_bytes(PACKAGE))) as source,
        zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in source.infolist():
            with archive.open(info.filename, "w") as member:
                member.write(source.read(info))
    data = stream.buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    assert check_wheel(data) == PACKAGE.metadata().encode()


def test_it_accepts_zip64_entries_and_end_records() -> None:
    """Zip64 sizes in local headers, and the zip64 end record a writer adds past 65535 entries."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(wheel_bytes(PACKAGE))) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive,
    ):
        for info in source.infolist():
            with archive.open(info.filename, "w", force_zip64=True) as member:
                member.write(source.read(info))
        for number in range(0x10000):
            archive.writestr(f"demo_pkg/data/{number}", b"")
    data = buffer.getvalue()
    assert b"PK\x06\x06" in data[-200:]
    assert check_wheel(data) == PACKAGE.metadata().encode()
