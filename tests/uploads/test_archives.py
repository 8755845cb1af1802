"""Archive framing checks that need hand-made bytes: tricks no packaging tool produces."""

from __future__ import annotations

import contextlib
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


@pytest.mark.parametrize("kind", ["bdist_wheel", "sdist"])
def test_it_answers_every_corrupted_archive_with_a_reason_never_a_crash(kind: str) -> None:
    """Seeded random corruption: anything but InvalidDistribution would be a 500."""
    rng = random.Random(20261125)  # noqa: S311 - reproducible corruption, not a secret
    data = wheel_bytes(PACKAGE) if kind == "bdist_wheel" else sdist_bytes(PACKAGE)
    filename = wheel_filename(PACKAGE) if kind == "bdist_wheel" else sdist_filename(PACKAGE)
    for _ in range(600):
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
        with contextlib.suppress(InvalidDistribution):
            read_core_metadata(io.BytesIO(bytes(mutated)), filename, kind)
