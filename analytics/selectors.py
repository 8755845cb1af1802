"""Download numbers, read through what the actor may see: a project reached through
registry.selectors (read access to its repository), an organization's repositories through
`repositories_for`. Counts are of distributions; `.metadata` reads are counted apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from django.db.models import Count
from django.db.models import Max
from django.db.models import Q
from django.db.models import QuerySet
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Organization
from accounts.permissions import Actor
from analytics.models import DailyDownloads
from analytics.models import RetentionPolicy
from registry.models import Project
from registry.models import Repository
from registry.models import RepositoryKind
from registry.names import normalize_version
from registry.selectors import repositories_for

PERIODS = (30, 90)
TOP_PROJECTS = 10


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def _since(days: int) -> dt.date:
    return today() - dt.timedelta(days=days - 1)


def _files(queryset: QuerySet[DailyDownloads]) -> QuerySet[DailyDownloads]:
    return queryset.filter(metadata=False)


def project_rows(*, project: Project, days: int) -> QuerySet[DailyDownloads]:
    return DailyDownloads.objects.filter(
        repository_id=project.repository_id, project=project.normalized_name, day__gte=_since(days)
    )


@dataclass(frozen=True)
class Series:
    """Daily downloads of one version or installer over the period, oldest day first."""

    name: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ProjectDownloads:
    days: list[dt.date]
    by_version: list[Series]
    by_installer: list[Series]
    total: int
    metadata_reads: int
    last_downloaded: dict[str, dt.datetime] = field(default_factory=dict)

    def series(self, by: str) -> list[Series]:
        return self.by_installer if by == "installer" else self.by_version


def _series(rows: list[Any], key: str, days: list[dt.date]) -> list[Series]:
    index = {day: i for i, day in enumerate(days)}
    found: dict[str, list[int]] = {}
    for row in rows:
        counts = found.setdefault(str(row[key]) or "unknown", [0] * len(days))
        counts[index[row["day"]]] += int(row["n"])
    series = [Series(name, counts) for name, counts in found.items()]
    return sorted(series, key=lambda s: (-s.total, s.name))


def project_downloads(*, project: Project, days: int) -> ProjectDownloads:
    """Three queries: the period by day, version and installer; `.metadata` reads; the last
    download of each version (ever)."""
    period = [_since(days) + dt.timedelta(days=i) for i in range(days)]
    rows = list(
        _files(project_rows(project=project, days=days))
        .values("day", "version", "installer")
        .annotate(n=Sum("count"))
    )
    by_version = _series(rows, "version", period)
    metadata = project_rows(project=project, days=days).filter(metadata=True)
    return ProjectDownloads(
        days=period,
        by_version=by_version,
        by_installer=_series(rows, "installer", period),
        total=sum(s.total for s in by_version),
        metadata_reads=metadata.aggregate(n=Sum("count"))["n"] or 0,
        last_downloaded=last_downloaded(project=project),
    )


def last_downloaded(*, project: Project) -> dict[str, dt.datetime]:
    """Version (as its files name it) -> when a file of it was last downloaded (one query)."""
    rows = (
        _files(DailyDownloads.objects.filter(repository_id=project.repository_id))
        .filter(project=project.normalized_name)
        .values("version")
        .annotate(last=Max("last_at"))
    )
    return {row["version"]: row["last"] for row in rows}


def project_csv_rows(*, project: Project, days: int) -> Iterator[list[object]]:
    rows = project_rows(project=project, days=days).order_by("day", "filename", "installer")
    yield [
        "day", "version", "filename", "metadata", "installer", "installer_version", "python",
        "implementation", "system", "cpu", "key_id", "count",
    ]  # fmt: skip
    for r in rows.iterator():
        yield [
            r.day.isoformat(), r.version, r.filename, int(r.metadata), r.installer,
            r.installer_version, r.python, r.implementation, r.system, r.cpu, r.key_id, r.count,
        ]  # fmt: skip


@dataclass(frozen=True)
class TopProject:
    repository: str
    project: str
    downloads: int
    hosted: bool = True  # a proxy's projects have no page of their own


@dataclass(frozen=True)
class OrganizationDownloads:
    days: int
    downloads: int
    all_time: int
    storage_bytes: int
    file_count: int
    top_projects: list[TopProject]


def organization_downloads(
    *, actor: Actor, organization: Organization, days: int, with_storage: bool = True
) -> OrganizationDownloads:
    """Totals over the repositories the actor may read (a limited key sees only its own):
    two queries, and one more for the storage."""
    repositories = repositories_for(actor=actor, organization=organization)
    rows = _files(DailyDownloads.objects.filter(repository__in=repositories))
    since = _since(days)
    recent = rows.filter(day__gte=since)
    totals = rows.aggregate(all_time=Sum("count"), recent=Sum("count", filter=Q(day__gte=since)))
    top = (
        recent.values("repository__slug", "repository__kind", "project")
        .annotate(n=Sum("count"))
        .order_by("-n", "repository__slug", "project")[:TOP_PROJECTS]
    )
    # The organization's page shows its storage already: only the API asks for it here.
    usage = _usage(repositories) if with_storage else (0, 0)
    return OrganizationDownloads(
        days=days,
        downloads=totals["recent"] or 0,
        all_time=totals["all_time"] or 0,
        storage_bytes=usage[0],
        file_count=usage[1],
        top_projects=[
            TopProject(
                r["repository__slug"],
                r["project"],
                r["n"],
                r["repository__kind"] == RepositoryKind.HOSTED,
            )
            for r in top
        ],
    )


def _usage(repositories: QuerySet[Repository]) -> tuple[int, int]:
    found = Repository.objects.filter(pk__in=repositories).aggregate(
        size=Sum("files__size"), count=Count("files")
    )
    return found["size"] or 0, found["count"]


def downloaded_versions(*, repository: Repository, days: int) -> set[tuple[str, str]]:
    """(project, canonical version) with any file or metadata read within `days`."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = DailyDownloads.objects.filter(repository=repository, last_at__gte=since)
    found = rows.values_list("project", "version").distinct()
    return {(project, normalize_version(version)) for project, version in found}


def policy_of(*, repository: Repository) -> RetentionPolicy | None:
    return RetentionPolicy.objects.filter(repository=repository).first()
