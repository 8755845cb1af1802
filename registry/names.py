"""The one normalization of project names (PEP 503) and versions (PEP 440), and the one order
of releases. The index, the dashboard, the REST API and uploads all compare through these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from typing import TypeVar

from packaging.utils import InvalidSdistFilename
from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion
from packaging.version import Version


def normalize_name(name: str) -> str:
    """`Foo.Bar_baz` -> `foo-bar-baz`: how URLs and lookups name a project."""
    return canonicalize_name(name)


def normalize_version(version: str | Version) -> str:
    """`1.0.0` -> `1`: 1.0 and 1.0.0 are one release."""
    return canonicalize_version(version)


def distribution_of(filename: str) -> tuple[str, str] | None:
    """(normalized project name, version) a wheel or sdist filename names, or None."""
    try:
        if filename.endswith(".whl"):
            name, version = parse_wheel_filename(filename)[:2]
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return normalize_name(name), str(version)


def parse_version(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


class Versioned(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def yanked(self) -> bool: ...


V = TypeVar("V", bound=Versioned)


def version_sort_key(release: Versioned) -> tuple[int, Version | str]:
    """Newest last when sorted: PEP 440 order; anything unparsable sorts before all versions."""
    parsed = parse_version(release.version)
    return (1, parsed) if parsed is not None else (0, release.version)


def newest_first(releases: Iterable[V]) -> list[V]:
    return sorted(releases, key=version_sort_key, reverse=True)


def latest_release(releases: Iterable[V]) -> V | None:
    """What pypi.org calls the latest version: the newest non-yanked final release; if there
    is none, the newest non-yanked pre-release; if everything is yanked, the newest of all."""
    ordered = newest_first(releases)
    live = [r for r in ordered if not r.yanked]
    for release in live:
        parsed = parse_version(release.version)
        if parsed is not None and not parsed.is_prerelease:
            return release
    if live:
        return live[0]
    return ordered[0] if ordered else None
