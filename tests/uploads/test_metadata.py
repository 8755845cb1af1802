from __future__ import annotations

import io
import zipfile

import pytest

from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from uploads.metadata import InvalidDistribution
from uploads.metadata import read_core_metadata

PACKAGE = Package("Demo.Pkg", "1.0", requires=["requests>=2"], requires_python=">=3.9")


def test_it_reads_a_wheels_metadata_byte_for_byte() -> None:
    core = read_core_metadata(
        io.BytesIO(wheel_bytes(PACKAGE)), wheel_filename(PACKAGE), "bdist_wheel"
    )
    assert core.raw == PACKAGE.metadata().encode()
    assert core.metadata.name == "Demo.Pkg"
    assert [str(r) for r in core.metadata.requires_dist or []] == ["requests>=2"]
    assert str(core.metadata.requires_python) == ">=3.9"


def test_it_reads_an_sdists_pkg_info() -> None:
    core = read_core_metadata(io.BytesIO(sdist_bytes(PACKAGE)), sdist_filename(PACKAGE), "sdist")
    assert str(core.metadata.version) == "1.0"


def test_it_refuses_metadata_naming_another_project() -> None:
    impostor = Package("other-pkg", "1.0")
    data = wheel_bytes(impostor)
    with pytest.raises(InvalidDistribution, match="does not match the filename"):
        read_core_metadata(io.BytesIO(data), wheel_filename(PACKAGE), "bdist_wheel")


def test_it_refuses_a_wheel_without_metadata() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    with pytest.raises(InvalidDistribution, match="required METADATA"):
        read_core_metadata(buffer, wheel_filename(PACKAGE), "bdist_wheel")


def test_it_refuses_a_file_that_is_not_an_archive() -> None:
    with pytest.raises(InvalidDistribution, match="not a zipfile"):
        read_core_metadata(io.BytesIO(b"hello"), wheel_filename(PACKAGE), "bdist_wheel")
    with pytest.raises(InvalidDistribution, match="not a tarfile"):
        read_core_metadata(io.BytesIO(b"hello"), sdist_filename(PACKAGE), "sdist")


@pytest.mark.parametrize(
    "filename", ["Demo.Pkg-1.0.tar.gz", "demo-pkg-1.0.tar.gz", "DEMO_PKG-1.0.0.tar.gz"]
)
def test_it_accepts_an_sdist_named_as_setuptools_before_69_3_names_it(filename: str) -> None:
    core = read_core_metadata(io.BytesIO(sdist_bytes(PACKAGE)), filename, "sdist")
    assert core.metadata.name == "Demo.Pkg"


def test_it_refuses_an_sdist_whose_name_names_another_project() -> None:
    with pytest.raises(
        InvalidDistribution,
        match=r"^Metadata name 'Demo\.Pkg' does not match the filename "
        r"'Demo\.Pkgs-1\.0\.tar\.gz'\.$",
    ):
        read_core_metadata(io.BytesIO(sdist_bytes(PACKAGE)), "Demo.Pkgs-1.0.tar.gz", "sdist")
