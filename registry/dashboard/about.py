"""What the project page says about a release, from its core metadata as stored at upload
(packaging's raw names): plain text everywhere, links only for http(s) URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement

from registry.models import Release
from registry.names import normalize_name
from registry.names import parse_version

# A License field may hold a whole license text; the sidebar shows its first line.
LICENSE_CHARS = 80


@dataclass(frozen=True)
class Dependency:
    name: str
    normalized_name: str
    extras: str
    specifier: str
    marker: str


@dataclass(frozen=True)
class HistoryEntry:
    release: Release
    prerelease: bool


def release_about(release: Release) -> dict[str, Any]:
    """License, people, URLs, classifiers, keywords and dependencies of one release."""
    metadata: dict[str, Any] = release.metadata or {}
    expression = str(metadata.get("license_expression") or "")
    return {
        "license": expression or _first_line(str(metadata.get("license") or "")),
        "license_is_expression": bool(expression),
        "people": _people(metadata),
        "urls": _urls(metadata),
        "classifiers": [str(c) for c in metadata.get("classifiers") or []],
        "keywords": _keywords(metadata.get("keywords")),
        "dependencies": dependencies(metadata),
        "extras": [str(e) for e in metadata.get("provides_extra") or []],
    }


def dependencies(metadata: dict[str, Any]) -> list[Dependency]:
    """Requires-Dist as name, extras, specifier and marker; unparsable lines are left out."""
    found = []
    for line in metadata.get("requires_dist") or []:
        try:
            requirement = Requirement(str(line))
        except InvalidRequirement:
            continue
        found.append(
            Dependency(
                name=requirement.name,
                normalized_name=normalize_name(requirement.name),
                extras=",".join(sorted(requirement.extras)),
                specifier=str(requirement.specifier),
                marker=str(requirement.marker or ""),
            )
        )
    return found


def history(releases: list[Release]) -> list[HistoryEntry]:
    """Releases as given (newest first), each saying whether it is a pre-release."""
    entries = []
    for release in releases:
        parsed = parse_version(release.version)
        entries.append(HistoryEntry(release, parsed is not None and parsed.is_prerelease))
    return entries


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= LICENSE_CHARS else line[: LICENSE_CHARS - 1] + "…"


def _people(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    people = []
    for role in ("author", "maintainer"):
        who = ", ".join(str(v) for v in (metadata.get(role), metadata.get(f"{role}_email")) if v)
        if who:
            people.append((role.capitalize(), who))
    return people


def _urls(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    urls: list[tuple[str, str]] = []
    if metadata.get("home_page"):
        urls.append(("Homepage", str(metadata["home_page"])))
    project_urls = metadata.get("project_urls") or {}
    if isinstance(project_urls, dict):
        urls.extend((str(label), str(url)) for label, url in project_urls.items())
    if metadata.get("download_url"):
        urls.append(("Download", str(metadata["download_url"])))
    # Anything but http(s) (javascript:, data:) is never made a link.
    return [(label, url) for label, url in urls if urlsplit(url).scheme in {"http", "https"}]


def _keywords(raw: object) -> list[str]:
    if isinstance(raw, list):
        return [str(k) for k in raw if str(k).strip()]
    if isinstance(raw, str):
        return [k.strip() for k in raw.replace(",", " ").split() if k.strip()]
    return []
