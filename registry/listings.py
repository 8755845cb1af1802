"""What a repository's index offers, whatever its kind: the one place that knows how hosted,
proxy and virtual repositories answer a project page, the root page and a file download.

- hosted: the ready files uploaded to it;
- proxy: the upstream's page (registry.proxy) through the repository's filters
  (registry.filters); files fetched and verified on first download;
- virtual: its members in order, merged by filename (the first member listing a filename
  wins). Private names always win: a name any hosted member holds is answered from the hosted
  members only — no upstream version of it is listed or served, whatever its version — unless
  an admin allowed upstream versions for that name (UpstreamOverride).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from django.utils import timezone

from registry import proxy
from registry import selectors
from registry.filters import Rules
from registry.links import url_without_credentials
from registry.models import Project
from registry.models import ProjectStatus
from registry.models import Repository
from registry.models import RepositoryKind
from registry.selectors import IndexFile
from registry.upstream import UpstreamError
from registry.upstream import project_of

# A cooldown moves with the clock: pages of a proxy with one are re-rendered this often.
COOLDOWN_GRANULARITY = 300
NOT_FOUND = "File not found."


@dataclass(frozen=True)
class Listing:
    """One project's page: its files, the status it shows and the tag naming this version."""

    name: str
    normalized_name: str
    # Called only to render the page: a cached page costs no query for its files.
    load: Callable[[], list[IndexFile]]
    tag: str
    status: str = ProjectStatus.ACTIVE
    status_reason: str = ""
    stale: str = ""  # why the upstream could not confirm some of it; empty when current
    # How long the page may be answered without looking again, in seconds; None: until
    # something it shows is written (registry.index.hot keeps it that long).
    fresh_for: int | None = None
    # PEP 708 (rejected, informative only): on merged pages where an admin let upstream
    # versions of a private name through.
    tracks: tuple[str, ...] = field(default=())
    alternate_locations: tuple[str, ...] = field(default=())

    @functools.cached_property
    def files(self) -> list[IndexFile]:
        return self.load()


@dataclass(frozen=True)
class Stored:
    """Where the bytes of a file (or of its metadata) are kept, to serve them."""

    key: str
    size: int | None
    sha256: str
    # The repository whose file it is (a virtual repository's member): downloads count there.
    repository_id: int


class Refused(Exception):
    """A download the index does not serve: `status` and a one-line reason."""

    def __init__(self, message: str, *, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def project_listing(*, repository: Repository, normalized_name: str) -> Listing | None:
    """The project's page in this repository, or None when it has no such project.
    ProxyUnavailable when an upstream must be asked and cannot answer."""
    if repository.kind == RepositoryKind.PROXY:
        return _proxy_listing(repository, normalized_name)
    if repository.kind == RepositoryKind.VIRTUAL:
        return _virtual_listing(repository, normalized_name)
    return _hosted_listing(repository, normalized_name)


def _hosted_listing(repository: Repository, normalized_name: str) -> Listing | None:
    project = selectors.project_find(repository=repository, normalized_name=normalized_name)
    if project is None:
        return None
    # PEP 792: a quarantined project offers no distributions at all.
    quarantined = project.status == ProjectStatus.QUARANTINED
    return Listing(
        name=project.name,
        normalized_name=normalized_name,
        load=(lambda: [])
        if quarantined
        else lambda: selectors.index_project_files(project=project),
        tag=f"p{repository.pk}.{project.pk}.{project.serial}",
        status=project.status,
        status_reason=project.status_reason,
    )


def _proxy_listing(repository: Repository, normalized_name: str) -> Listing | None:
    rules = Rules.of(repository)
    hidden = rules.hides_project(normalized_name)
    if hidden is not None:
        return None  # never ask the upstream about a name no rule lets through
    page = proxy.proxy_page(repository=repository, normalized_name=normalized_name)
    if page is None:
        return None
    now = timezone.now()

    def load() -> list[IndexFile]:
        return [
            _index_file(entry)
            for entry in page.entries
            if rules.hidden_reason(normalized_name, entry, now) is None
        ]

    tag = f"x{repository.pk}.{repository.config_serial}.{page.tag}"
    fresh_for = page.fresh_for
    if rules.timed:
        tag += f".{int(now.timestamp()) // COOLDOWN_GRANULARITY}"
        fresh_for = min(
            fresh_for, COOLDOWN_GRANULARITY - int(now.timestamp()) % COOLDOWN_GRANULARITY
        )
    return Listing(
        name=page.name,
        normalized_name=normalized_name,
        load=load,
        tag=tag,
        stale=page.stale,
        fresh_for=fresh_for,
    )


def _index_file(entry: dict[str, Any]) -> IndexFile:
    uploaded = entry.get("upload_time")
    return IndexFile(
        filename=entry["filename"],
        sha256=entry["sha256"],
        size=entry.get("size"),
        requires_python=entry.get("requires_python", ""),
        uploaded_at=datetime.fromisoformat(uploaded) if uploaded else None,
        metadata_sha256=entry.get("metadata_sha256", ""),
        version=entry["version"],
        yanked=entry.get("yanked", False),
        yanked_reason=entry.get("yanked_reason", ""),
    )


def _virtual_listing(repository: Repository, normalized_name: str) -> Listing | None:
    members = selectors.virtual_members(repository=repository)
    hosted = [m for m in members if m.kind == RepositoryKind.HOSTED]
    found = [
        listing
        for listing in (_hosted_listing(m, normalized_name) for m in hosted)
        if listing is not None
    ]
    private = bool(found)
    allowed = private and selectors.upstream_allowed(
        repository=repository, normalized_name=normalized_name
    )
    upstream_urls: list[str] = []
    errors: list[proxy.ProxyUnavailable] = []
    if not private or allowed:
        for member in members:
            if member.kind != RepositoryKind.PROXY:
                continue
            try:
                listing = _proxy_listing(member, normalized_name)
            except proxy.ProxyUnavailable as exc:
                errors.append(exc)
                continue
            if listing is not None:
                found.append(listing)
                # Readers see these (PEP 708): never a user or password written into the URL.
                tracked = proxy.upstream_of(member).project_url(normalized_name)
                upstream_urls.append(url_without_credentials(tracked))
    if not found:
        if errors:  # an upstream might have it: say why we cannot tell
            raise errors[0]
        return None
    first = found[0]

    def load() -> list[IndexFile]:
        files: dict[str, IndexFile] = {}
        for listing in found:
            for file in listing.files:
                files.setdefault(file.filename, file)
        return list(files.values())

    stale = "; ".join(
        [listing.stale for listing in found if listing.stale] + [str(e) for e in errors]
    )
    merged_tracks = bool(allowed and upstream_urls)
    limits = [listing.fresh_for for listing in found if listing.fresh_for is not None]
    fresh_for = 0 if errors else min(limits, default=None)
    tag = "v{}.{}.{}{}".format(
        repository.pk,
        repository.config_serial,
        "-".join(listing.tag for listing in found),
        ".e" if errors else "",
    )
    return Listing(
        name=first.name,
        normalized_name=normalized_name,
        load=load,
        tag=tag,
        status=first.status,
        status_reason=first.status_reason,
        stale=stale,
        fresh_for=fresh_for,
        tracks=tuple(upstream_urls) if merged_tracks else (),
        alternate_locations=tuple(upstream_urls) if merged_tracks else (),
    )


def described_project(*, repository: Repository, normalized_name: str) -> Project | None:
    """The project the JSON API (`/pypi/<project>/json`) describes: hosted projects only, of
    the repository or, for a virtual one, of its first hosted member that has it; upstream
    projects are described by their own index."""
    if repository.kind == RepositoryKind.HOSTED:
        candidates = [repository]
    elif repository.kind == RepositoryKind.VIRTUAL:
        members = selectors.virtual_members(repository=repository)
        candidates = [m for m in members if m.kind == RepositoryKind.HOSTED]
    else:
        candidates = []
    for candidate in candidates:
        project = selectors.project_find(repository=candidate, normalized_name=normalized_name)
        if project is not None:
            return project
    return None


def absence_fresh_for(*, repository: Repository) -> int | None:
    """How long "no such project" may be answered without looking again: until a project of
    that name is written, for a hosted repository; an upstream behind a proxy (or a virtual
    repository's proxy member) may publish it any time, so those are asked every time."""
    return None if repository.kind == RepositoryKind.HOSTED else 0


def index_names(*, repository: Repository) -> tuple[list[tuple[str, str]], str]:
    """(name, normalized name) of the projects the root page lists, and a tag naming them.

    A proxy lists the projects it has fetched (an upstream's whole list, PyPI's 600,000
    names, is not proxied); a virtual repository the union of its members' lists. The tag
    is a digest of the list itself: the repository row a request holds may be an older copy
    (registry.index.hot), so its serial cannot name the list."""
    if repository.kind == RepositoryKind.HOSTED:
        names = selectors.index_project_list(repository=repository)
    elif repository.kind == RepositoryKind.PROXY:
        names = proxy.cached_project_names(repository=repository)
    else:
        merged: dict[str, str] = {}
        for member in selectors.virtual_members(repository=repository):
            member_names, _ = index_names(repository=member)
            for name, normalized in member_names:
                merged.setdefault(normalized, name)
        names = sorted(((n, k) for k, n in merged.items()), key=lambda pair: pair[1])
    digest = hashlib.sha256(repr(names).encode()).hexdigest()[:16]
    return names, f"n{repository.pk}.{digest}"


def file_stored(*, repository: Repository, sha256: str, filename: str, metadata: bool) -> Stored:
    """Where to serve a file of this repository's index from; Refused when it does not serve
    it (missing, hidden by a rule, a private name's upstream copy, upstream failure)."""
    if repository.kind == RepositoryKind.HOSTED:
        return _hosted_file(repository, sha256, filename, metadata)
    if repository.kind == RepositoryKind.PROXY:
        return _proxy_file(repository, sha256, filename, metadata)
    members = selectors.virtual_members(repository=repository)
    for member in members:
        if member.kind != RepositoryKind.HOSTED:
            continue
        try:
            return _hosted_file(member, sha256, filename, metadata)
        except Refused:
            continue
    name = project_of(filename)
    if name is None:
        raise Refused(NOT_FOUND)
    hosted = [m for m in members if m.kind == RepositoryKind.HOSTED]
    if any(
        selectors.project_find(repository=m, normalized_name=name) for m in hosted
    ) and not selectors.upstream_allowed(repository=repository, normalized_name=name):
        raise Refused(
            f"'{name}' is a private project of this repository: its upstream files are not served."
        )
    refusal: Refused | None = None
    for member in members:
        if member.kind != RepositoryKind.PROXY:
            continue
        try:
            return _proxy_file(member, sha256, filename, metadata)
        except Refused as exc:
            # Keep the most telling reason: a rule's or an upstream's over a plain miss.
            if refusal is None or str(refusal) == NOT_FOUND:
                refusal = exc
    raise refusal or Refused(NOT_FOUND)


def _hosted_file(repository: Repository, sha256: str, filename: str, metadata: bool) -> Stored:
    file = selectors.ready_file_get(repository=repository, sha256=sha256, filename=filename)
    if file is None or (metadata and not file.metadata_sha256):
        raise Refused(NOT_FOUND)
    if metadata:
        return Stored(
            key=file.metadata_storage_key,
            size=None,
            sha256=file.metadata_sha256,
            repository_id=repository.pk,
        )
    return Stored(
        key=file.storage_key, size=file.size, sha256=file.sha256, repository_id=repository.pk
    )


def _proxy_file(repository: Repository, sha256: str, filename: str, metadata: bool) -> Stored:
    name = project_of(filename)
    if name is None:
        raise Refused(NOT_FOUND)
    rules = Rules.of(repository)
    hidden = rules.hides_project(name)
    if hidden is not None:
        raise Refused(hidden)
    try:
        page = proxy.proxy_page(repository=repository, normalized_name=name)
    except proxy.ProxyUnavailable as exc:
        raise Refused(str(exc), status=exc.status) from exc
    entry = next(
        (
            e
            for e in (page.entries if page else [])
            if e["filename"] == filename and e["sha256"] == sha256
        ),
        None,
    )
    if entry is None or (metadata and not entry.get("metadata_sha256")):
        raise Refused(NOT_FOUND)
    reason = rules.hidden_reason(name, entry, timezone.now())
    if reason is not None:
        raise Refused(reason)
    try:
        cached = proxy.proxy_file(
            repository=repository, project_name=name, entry=entry, metadata=metadata
        )
    except UpstreamError as exc:
        raise Refused(str(exc), status=exc.status) from exc
    if metadata:
        return Stored(
            key=cached.metadata_storage_key,
            size=None,
            sha256=cached.metadata_sha256,
            repository_id=repository.pk,
        )
    return Stored(
        key=cached.storage_key, size=cached.size, sha256=cached.sha256, repository_id=repository.pk
    )
