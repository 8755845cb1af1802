"""Real, installable wheels and sdists, written byte by byte for tests (PEP 427, PEP 625)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    requires: Sequence[str] = ()
    requires_python: str = ">=3.8"
    summary: str = "A package made by the test suite"

    @property
    def dist_name(self) -> str:
        return canonicalize_name(self.name).replace("-", "_")

    @property
    def module(self) -> str:
        return self.dist_name

    def metadata(self) -> str:
        lines = [
            "Metadata-Version: 2.1",
            f"Name: {self.name}",
            f"Version: {self.version}",
            f"Summary: {self.summary}",
            # An empty requires_python leaves the optional field out of the metadata.
            *([f"Requires-Python: {self.requires_python}"] if self.requires_python else []),
            *(f"Requires-Dist: {req}" for req in self.requires),
        ]
        return "\n".join(lines) + "\n\nThis is the long description.\n"

    def module_source(self) -> str:
        return f'__version__ = "{self.version}"\nNAME = "{self.name}"\n'


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_bytes(package: Package) -> bytes:
    dist_info = f"{package.dist_name}-{package.version}.dist-info"
    members = {
        f"{package.module}/__init__.py": package.module_source().encode(),
        f"{dist_info}/METADATA": package.metadata().encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: wheelhouse-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            # A fixed timestamp: the same package must give the same bytes on every call.
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def sdist_bytes(package: Package) -> bytes:
    top = f"{package.dist_name}-{package.version}"
    members = {
        f"{top}/PKG-INFO": package.metadata().encode(),
        f"{top}/pyproject.toml": (
            '[build-system]\nrequires = ["flit_core>=3.9"]\nbuild-backend = "flit_core.buildapi"\n'
            f'\n[project]\nname = "{package.name}"\nversion = "{package.version}"\n'
            f'description = "{package.summary}"\n'
        ).encode(),
        f"{top}/{package.module}/__init__.py": package.module_source().encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    # A fixed gzip header time: "w:gz" writes the current second, so the same package built
    # in two different seconds had two sha256s (a test comparing them failed under load).
    return gzip.compress(buffer.getvalue(), mtime=0)


def wheel_filename(package: Package) -> str:
    return f"{package.dist_name}-{package.version}-py3-none-any.whl"


def sdist_filename(package: Package) -> str:
    return f"{package.dist_name}-{package.version}.tar.gz"


def write_distributions(package: Package, directory: Path) -> list[Path]:
    """Write the wheel and the sdist of `package` into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / wheel_filename(package)
    wheel.write_bytes(wheel_bytes(package))
    sdist = directory / sdist_filename(package)
    sdist.write_bytes(sdist_bytes(package))
    return [wheel, sdist]
