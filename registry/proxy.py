"""Proxy repositories: upstream project pages and files, fetched on demand and kept.

A page is fetched when first asked for and kept as a CachedProject for the repository's TTL;
after that the next request revalidates it (If-None-Match / If-Modified-Since). Files and
their PEP 658 metadata are fetched on first download, checked against the sha256 the
upstream's page listed, stored content-addressed beside uploads, and served from storage from
then on.

One fetch per project however many clients ask at once: requests for one project queue on a
lock (one per project in a process, and the CachedProject row's lock across processes), and
those that queued take the answer fetched after they asked. The lock is held for the fetch,
which the upstream timeouts bound.

Faults: when the upstream cannot be reached, a page fetched before is served as it is (stale,
with the reason) and the upstream is not asked again for UPSTREAM_RETRY_SECONDS; a page never
fetched answers 502/504 with the reason (ProxyUnavailable).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File as DjangoFile
from django.db import transaction
from django.utils import timezone

from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import Repository
from registry.storage import packages_storage
from registry.upstream import Upstream
from registry.upstream import UpstreamError


class _KeyedLocks:
    """One lock per key while anyone holds or waits for it: a long first download of one
    file never holds up another file or a page."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._locks[key]


_LOCKS = _KeyedLocks()


class ProxyUnavailable(Exception):
    """The upstream could not answer and nothing is cached: `status` is 502 or 504."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ProxyPage:
    """A proxy's copy of one upstream project page: every entry, before any filter."""

    name: str
    tag: str  # names this exact copy, for the rendered-page cache
    stale: str  # why the upstream could not confirm it; empty when it is current
    fresh_for: int  # seconds until the upstream must be asked again
    # Read only when needed: a large project's entries (numpy's: 2 MB of JSON) are not
    # loaded to answer a page already rendered under `tag`.
    load: Callable[[], list[dict[str, Any]]]

    @functools.cached_property
    def entries(self) -> list[dict[str, Any]]:
        return self.load()


def upstream_of(repository: Repository) -> Upstream:
    return Upstream(
        url=repository.upstream_url,
        username=repository.upstream_username,
        password=repository.upstream_password,
    )


def proxy_page(*, repository: Repository, normalized_name: str) -> ProxyPage | None:
    """The upstream's page for the project (None when the upstream has no such project)."""
    asked_at = timezone.now()
    cached = (
        CachedProject.objects.filter(repository=repository, normalized_name=normalized_name)
        .defer("files")
        .first()
    )
    if cached is None or not _settled(cached, repository):
        # Threads of one process queue here, so they do not each hold a database connection
        # while they wait for the row lock.
        with _LOCKS.hold(f"p{repository.pk}:{normalized_name}"):
            cached = _refresh(repository, normalized_name, asked_at)
    return _page(cached, repository)


def _settled(cached: CachedProject, repository: Repository) -> bool:
    """Whether the copy may be served without asking the upstream now."""
    now = timezone.now()
    if cached.fetched_at and now - cached.fetched_at < timedelta(seconds=repository.cache_ttl):
        return True
    # The upstream failed a moment ago: do not make every client wait for it again.
    held = timedelta(seconds=settings.UPSTREAM_RETRY_SECONDS)
    return bool(cached.last_error_at and now - cached.last_error_at < held)


def _page(cached: CachedProject, repository: Repository) -> ProxyPage | None:
    if cached.fetched_at is None:
        status = 504 if "timed out" in cached.last_error else 502
        raise ProxyUnavailable(cached.last_error, status=status)
    if not cached.found:
        return None
    stale = cached.last_error if cached.last_error_at else ""
    age = (timezone.now() - cached.fetched_at).total_seconds()
    return ProxyPage(
        name=cached.name,
        tag=f"{cached.pk}.{cached.serial}",
        stale=stale,
        fresh_for=0 if stale else max(0, int(repository.cache_ttl - age)),
        load=lambda: cached.files,
    )


def _refresh(repository: Repository, normalized_name: str, asked_at: datetime) -> CachedProject:
    with transaction.atomic():
        CachedProject.objects.get_or_create(
            repository=repository,
            normalized_name=normalized_name,
            defaults={"name": normalized_name},
        )
        cached = CachedProject.objects.select_for_update().get(
            repository=repository, normalized_name=normalized_name
        )
        # Whoever held the lock before us asked the upstream after we asked for the page: their
        # answer is as fresh as ours would be (this holds even with a TTL of 0).
        answered_at = max(filter(None, (cached.fetched_at, cached.last_error_at)), default=None)
        if _settled(cached, repository) or (answered_at and answered_at >= asked_at):
            return cached
        try:
            fetched = upstream_of(repository).project_fetch(
                normalized_name, etag=cached.etag, last_modified=cached.last_modified
            )
        except UpstreamError as exc:
            cached.last_error = str(exc)[:500]
            cached.last_error_at = timezone.now()
            cached.save(update_fields=["last_error", "last_error_at"])
            return cached
        cached.fetched_at = timezone.now()
        cached.last_error, cached.last_error_at = "", None
        if fetched.entries is not None:  # not a 304
            if fetched.entries != cached.files or fetched.found != cached.found:
                cached.serial += 1
            cached.files, cached.found, cached.name = fetched.entries, fetched.found, fetched.name
        cached.etag = fetched.etag or cached.etag
        cached.last_modified = fetched.last_modified or cached.last_modified
        cached.save()
    return cached


def proxy_storage_key(*, repository_id: int, sha256: str, filename: str) -> str:
    """Content-addressed by the upstream's sha256, under the repository, beside uploads."""
    return f"repositories/{repository_id}/proxy/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{filename}"


def proxy_file(
    *, repository: Repository, project_name: str, entry: dict[str, Any], metadata: bool
) -> CachedFile:
    """The stored copy of an upstream file (or of its metadata), fetched and verified first
    if this is its first download. UpstreamError when that fetch fails."""
    cached = CachedFile.objects.filter(repository=repository, filename=entry["filename"]).first()
    if cached is not None and cached.sha256 == entry["sha256"] and _has(cached, metadata):
        return cached
    with _LOCKS.hold(f"f{repository.pk}:{entry['filename']}"), transaction.atomic():
        project = CachedProject.objects.get(repository=repository, normalized_name=project_name)
        CachedFile.objects.get_or_create(
            repository=repository,
            filename=entry["filename"],
            defaults={
                "project": project,
                "sha256": entry["sha256"],
                "storage_key": proxy_storage_key(
                    repository_id=repository.pk, sha256=entry["sha256"], filename=entry["filename"]
                ),
            },
        )
        cached = CachedFile.objects.select_for_update().get(
            repository=repository, filename=entry["filename"]
        )
        if cached.sha256 != entry["sha256"]:
            # The upstream now lists other bytes under this name: keep what it lists now.
            cached.sha256 = entry["sha256"]
            cached.storage_key = proxy_storage_key(
                repository_id=repository.pk, sha256=entry["sha256"], filename=entry["filename"]
            )
            cached.size, cached.metadata_sha256 = None, ""
        if not _has(cached, metadata):
            _fetch_into(repository, cached, entry, metadata)
        cached.save()
    return cached


def _has(cached: CachedFile, metadata: bool) -> bool:
    return bool(cached.metadata_sha256) if metadata else cached.size is not None


def _fetch_into(
    repository: Repository, cached: CachedFile, entry: dict[str, Any], metadata: bool
) -> None:
    upstream = upstream_of(repository)
    storage = packages_storage()
    if metadata:
        url, sha256, key = (
            f"{entry['url']}.metadata",
            entry["metadata_sha256"],
            cached.metadata_storage_key,
        )
        what = f"the metadata of {entry['filename']}"
    else:
        url, sha256, key = entry["url"], entry["sha256"], cached.storage_key
        what = entry["filename"]
    with upstream.download(url, sha256=sha256, what=what) as spool:
        size = spool.seek(0, 2)
        spool.seek(0)
        # Even over an existing object (the same bytes: content-addressed): a write makes it
        # young again, so the reconciliation's grace covers it until this row commits.
        storage.save(key, DjangoFile(spool))
    if metadata:
        cached.metadata_sha256 = sha256
    else:
        cached.size = size


def cached_project_names(*, repository: Repository) -> list[tuple[str, str]]:
    """(name, normalized name) of the projects this proxy holds a page of."""
    return list(
        CachedProject.objects.filter(repository=repository, found=True)
        .exclude(fetched_at=None)
        .order_by("normalized_name")
        .values_list("name", "normalized_name")
    )
