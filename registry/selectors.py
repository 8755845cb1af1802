"""Reads over registry data, found through the actor asking (a user or an API key).

`repository_for` is the one way to a repository for the index, uploads, the dashboard and
the REST API: what the actor may not see raises NotFound, exactly as what does not exist.
Everything below a repository takes the repository it is scoped to. Names and versions are
compared normalized (registry.names) everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count
from django.db.models import F
from django.db.models import Max
from django.db.models import Prefetch
from django.db.models import Q
from django.db.models import QuerySet
from django.db.models import Sum
from django.db.models import Value
from django.db.models import prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import Organization
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import key_repository_ids
from accounts.permissions import require
from accounts.selectors import alias_until
from accounts.selectors import organization_for
from core.errors import NotFound
from core.errors import Renamed
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.models import RepositoryKind
from registry.models import RepositorySlugAlias
from registry.models import UpstreamOverride
from registry.models import VirtualMember
from registry.names import latest_release
from registry.names import newest_first
from registry.names import normalize_name
from registry.names import normalize_version

# Repositories -----------------------------------------------------------------------------------


def repositories_for(*, actor: Actor, organization: Organization) -> QuerySet[Repository]:
    """The organization's repositories the actor may read; a key sees only those it covers.
    (The organization itself comes from accounts.selectors.organization_for.)"""
    repositories = Repository.objects.filter(organization=organization).select_related(
        "organization"
    )
    if isinstance(actor, ApiKey):
        limited = key_repository_ids(actor)
        # None is every repository; an empty set is none (filtering on it runs no query).
        if limited is not None:
            repositories = repositories.filter(pk__in=limited)
    return repositories.order_by("slug")


def repository_for(
    *,
    actor: Actor,
    org: str,
    repo: str,
    action: Action = Action.READ,
    follow_renames: bool = False,
) -> Repository:
    """The repository `org/repo` if the actor may see it, else NotFound (missing, foreign and
    outside a key's limits all look the same); PermissionDenied if it may not do `action`.

    Former slugs of the organization or the repository (within SLUG_ALIAS_DAYS) find it too,
    after the current ones missed: installers (`follow_renames`) get the repository, whose
    `alias_until` says until when the URL answers; pages for people get Renamed."""
    organization = organization_for(actor=actor, slug=org, follow_renames=True)
    visible = repositories_for(actor=actor, organization=organization)
    repository = visible.filter(slug=repo).first()
    until = alias_until(organization)
    if repository is None:
        found = (
            visible.filter(slug_aliases__slug=repo, slug_aliases__expires_at__gt=timezone.now())
            .annotate(alias_until=F("slug_aliases__expires_at"))
            .first()
        )
        if found is None:
            raise NotFound(f"Repository '{org}/{repo}' not found.")
        repository = found
        repo_until: datetime = found.alias_until
        until = repo_until if until is None else min(until, repo_until)
    repository.alias_until = until  # type: ignore[attr-defined]
    repository.organization = organization  # the one that knows how it was found
    if until is not None and not follow_renames:
        raise Renamed(
            f"Repository '{org}/{repo}' is now '{organization.slug}/{repository.slug}'.",
            slugs={"org": organization.slug, "repo": repository.slug},
        )
    if action != Action.READ:
        require(actor, action, organization, repository)
    return repository


def repository_former_slugs(*, repository: Repository) -> QuerySet[RepositorySlugAlias]:
    """The repository's former slugs that still answer, soonest to stop first."""
    return RepositorySlugAlias.objects.filter(
        repository=repository, expires_at__gt=timezone.now()
    ).order_by("expires_at", "slug")


def virtual_members(*, repository: Repository) -> list[Repository]:
    """A virtual repository's members in the order its pages merge them."""
    return [
        m.member
        for m in VirtualMember.objects.filter(virtual=repository)
        .select_related("member__organization")
        .order_by("position")
    ]


def upstream_allowed(*, repository: Repository, normalized_name: str) -> bool:
    """Whether a virtual repository lists upstream versions of a name its hosted members hold."""
    return UpstreamOverride.objects.filter(
        repository=repository, normalized_name=normalized_name
    ).exists()


def upload_repository(*, repository: Repository) -> Repository | None:
    """Where an upload to `repository` lands: itself when hosted, a virtual repository's
    upload target (None without one), never a proxy."""
    if repository.kind == RepositoryKind.HOSTED:
        return repository
    if repository.kind == RepositoryKind.VIRTUAL and repository.upload_target_id:
        return Repository.objects.select_related("organization").get(pk=repository.upload_target_id)
    return None


def virtual_members_load(*, repositories: Iterable[Repository]) -> None:
    """Load the members (in order) and upload targets of the virtual repositories among
    `repositories` in two queries, whatever their number; none when none is virtual."""
    virtual = [r for r in repositories if r.kind == RepositoryKind.VIRTUAL]
    members = VirtualMember.objects.select_related("member").order_by("position")
    prefetch_related_objects(virtual, Prefetch("memberships", queryset=members), "upload_target")


def member_slugs(*, repository: Repository) -> list[str]:
    """A virtual repository's member slugs in merge order (loaded ones if virtual_members_load
    ran)."""
    return [m.member.slug for m in repository.memberships.all()]


def virtual_parents(*, repository: Repository) -> list[Repository]:
    """The virtual repositories of its organization that list `repository` as a member."""
    return list(
        Repository.objects.filter(
            organization_id=repository.organization_id,
            kind=RepositoryKind.VIRTUAL,
            memberships__member=repository,
        )
        .select_related("organization", "upload_target")
        .order_by("slug")
    )


def upstream_overrides(*, repository: Repository) -> QuerySet[UpstreamOverride]:
    """The names a virtual repository lists upstream versions of, by name; NotFound for any
    other kind (only virtual repositories merge upstream names)."""
    if repository.kind != RepositoryKind.VIRTUAL:
        raise NotFound(
            f"'{repository}' is a {repository.kind} repository; only virtual repositories "
            "have upstream overrides."
        )
    return UpstreamOverride.objects.filter(repository=repository).order_by("normalized_name")


def upstream_override_for(*, repository: Repository, name: str) -> UpstreamOverride:
    override = (
        upstream_overrides(repository=repository)
        .filter(normalized_name=normalize_name(name))
        .first()
    )
    if override is None:
        raise NotFound(f"No upstream override for '{name}' in '{repository}'.")
    return override


# Proxy caches -----------------------------------------------------------------------------------


def cached_projects(*, repository: Repository) -> QuerySet[CachedProject]:
    """What a proxy holds, one row per project by name, with how many of its files were
    fetched and the bytes they take; NotFound for any other kind (nothing is cached there)."""
    if repository.kind != RepositoryKind.PROXY:
        raise NotFound(
            f"'{repository}' is a {repository.kind} repository; only proxy repositories have "
            "a cache."
        )
    return (
        CachedProject.objects.filter(repository=repository)
        .annotate(
            file_count=Count("cached_files"),
            stored_bytes=Coalesce(Sum("cached_files__size"), Value(0)),
        )
        .order_by("normalized_name", "pk")
    )


@dataclass(frozen=True)
class CacheTotals:
    project_count: int
    file_count: int
    stored_bytes: int
    last_refresh: datetime | None
    error_count: int


def proxy_cache_totals(*, repository: Repository) -> CacheTotals:
    """A proxy's whole cache in two queries: projects, files, bytes, the latest refresh and
    how many projects the upstream failed to answer for lately."""
    projects = CachedProject.objects.filter(repository=repository).aggregate(
        count=Count("pk"),
        last=Max("fetched_at"),
        errors=Count("pk", filter=~Q(last_error="")),
    )
    files = CachedFile.objects.filter(repository=repository).aggregate(
        count=Count("pk"), size=Sum("size")
    )
    return CacheTotals(
        project_count=projects["count"],
        file_count=files["count"],
        stored_bytes=files["size"] or 0,
        last_refresh=projects["last"],
        error_count=projects["errors"],
    )


def repository_slugs(*, organization: Organization, kind: str) -> list[str]:
    """The slugs of the organization's repositories of one kind, by name (for choices)."""
    return list(
        Repository.objects.filter(organization=organization, kind=kind)
        .order_by("slug")
        .values_list("slug", flat=True)
    )


def repository_overviews(*, organization: Organization) -> QuerySet[Repository]:
    """The organization's repositories with how many projects and ready files each holds."""
    ready = Q(files__status=FileStatus.READY)
    return (
        Repository.objects.filter(organization=organization)
        .annotate(
            project_count=Count("projects", distinct=True),
            file_count=Count("files", filter=ready, distinct=True),
        )
        .order_by("slug")
    )


# Projects and releases --------------------------------------------------------------------------


def project_find(*, repository: Repository, normalized_name: str) -> Project | None:
    return (
        Project.objects.filter(repository=repository, normalized_name=normalized_name)
        .select_related("repository__organization")
        .first()
    )


def project_for(*, repository: Repository, name: str) -> Project:
    """The project under any spelling of its name, or NotFound."""
    project = project_find(repository=repository, normalized_name=normalize_name(name))
    if project is None:
        raise NotFound(f"Project '{name}' not found in '{repository}'.")
    return project


def project_badge_for(*, actor: Actor | None, org: str, repo: str, name: str) -> Project:
    """The project whose README badge `actor` may read: any project of a repository it may
    read (a former slug answers too, as for installers: READMEs are configured clients of a
    sort), else one whose owners made its badge public (by current or former slugs); anything
    else is NotFound, whether missing, foreign or private. `actor` None: nobody logged in.
    The badge shows the name and latest version only, nothing else of the project."""
    if actor is not None:
        try:
            repository = repository_for(actor=actor, org=org, repo=repo, follow_renames=True)
            return project_for(repository=repository, name=name)
        except NotFound:
            pass
    # Former slugs too: a README badge is a URL written down once, like an index URL.
    now = timezone.now()
    in_org = Q(repository__organization__slug=org) | Q(
        repository__organization__slug_aliases__slug=org,
        repository__organization__slug_aliases__expires_at__gt=now,
    )
    in_repo = Q(repository__slug=repo) | Q(
        repository__slug_aliases__slug=repo, repository__slug_aliases__expires_at__gt=now
    )
    found = (
        Project.objects.filter(
            in_org, in_repo, normalized_name=normalize_name(name), public_badge=True
        )
        .select_related("repository__organization")
        .first()
    )
    if found is None:
        raise NotFound(f"No badge for '{name}' in '{org}/{repo}'.")
    return found


def project_latest(*, project: Project) -> Release | None:
    """The project's latest release (registry.names, pypi.org's choice), in one query."""
    return latest_release(Release.objects.filter(project=project).only("version", "yanked"))


def projects_of(*, repository: Repository, name: str = "") -> QuerySet[Project]:
    """The repository's projects, optionally those whose normalized name contains `name`."""
    projects = Project.objects.filter(repository=repository)
    if name:
        projects = projects.filter(normalized_name__contains=normalize_name(name))
    return projects.order_by("normalized_name", "pk")


def repository_projects(*, repository: Repository, query: str = "") -> QuerySet[Project]:
    """Every project of the repository (pending ones too), searchable by name, summary or
    keywords, with how many releases each has and when it last had one."""
    return _searched(Project.objects.filter(repository=repository), query).order_by(
        "normalized_name"
    )


def organization_projects(*, organization: Organization, query: str) -> QuerySet[Project]:
    """Projects of every repository of the organization matching the search, each
    with its repository: one search instead of one per repository."""
    projects = Project.objects.filter(repository__organization=organization).select_related(
        "repository"
    )
    return _searched(projects, query).order_by("normalized_name", "repository__slug")


def _searched(projects: QuerySet[Project], query: str) -> QuerySet[Project]:
    # Counted before the search filters on releases, so a search by summary still counts
    # every release of a project it finds, not only those whose summary matched.
    projects = projects.annotate(
        release_count=Count("releases", distinct=True), updated_at=Max("releases__created_at")
    )
    if query:
        projects = projects.filter(
            Q(normalized_name__icontains=normalize_name(query))
            | Q(releases__summary__icontains=query)
            | Q(releases__metadata__keywords__icontains=query)
        ).distinct()
    return projects


def projects_latest_load(*, projects: Iterable[Project]) -> None:
    """Give each project its `latest` release (pypi.org's choice, registry.names), in one
    query for the whole page of projects, not one per row."""
    by_project: dict[int, list[Release]] = {}
    page = list(projects)
    releases = Release.objects.filter(project__in=page).only(
        "project_id", "version", "yanked", "summary", "created_at"
    )
    for release in releases:
        by_project.setdefault(release.project_id, []).append(release)
    for project in page:
        project.latest = latest_release(by_project.get(project.pk, []))  # type: ignore[attr-defined]


def project_repositories_named(*, repository: Repository, names: Iterable[str]) -> dict[str, str]:
    """Which of these normalized names are projects of the repository's organization, and
    the repository holding each (this one first, else the first by slug): the project page
    links dependencies that live in the same organization. One query; none without names."""
    wanted = set(names)
    if not wanted:
        return {}
    rows = (
        Project.objects.filter(
            repository__organization_id=repository.organization_id, normalized_name__in=wanted
        )
        .order_by("repository__slug")
        .values_list("normalized_name", "repository__slug", "repository_id")
    )
    found: dict[str, str] = {}
    for name, slug, repository_id in rows:
        if repository_id == repository.pk or name not in found:
            found[name] = slug
    return found


def releases_of(*, project: Project) -> QuerySet[Release]:
    """Newest first; each release knows its project without another query."""
    return project.releases.order_by("-created_at", "-pk")


def release_for(*, project: Project, version: str) -> Release:
    """The release under any spelling of its version (1.0 is 1.0.0), or NotFound."""
    release = (
        releases_of(project=project).filter(canonical_version=normalize_version(version)).first()
    )
    if release is None:
        raise NotFound(f"Release '{project.name} {version}' not found.")
    return release


def release_with_files(*, release: Release) -> Release:
    """The release with its files loaded, each knowing its repository and organization (for
    download URLs): one query however many files, instead of two per file."""
    files = File.objects.select_related("repository__organization")
    prefetch_related_objects([release], Prefetch("files", queryset=files))
    return release


def project_releases_for_dashboard(*, project: Project) -> list[Release]:
    """Releases newest version first, each with its files (all statuses) and uploaders."""
    files = File.objects.select_related("uploaded_by", "uploaded_by__user").order_by("filename")
    releases = project.releases.prefetch_related(Prefetch("files", queryset=files))
    return newest_first(releases)


# Files ------------------------------------------------------------------------------------------


def files_of(
    *, repository: Repository, status: str = "", project: str = "", version: str = ""
) -> QuerySet[File]:
    """Every file of the repository, pending and rejected too, newest first."""
    files = File.objects.filter(repository=repository).select_related(
        "release__project", "repository__organization"
    )
    if status:
        files = files.filter(status=status)
    if project:
        files = files.filter(release__project__normalized_name=normalize_name(project))
    if version:
        files = files.filter(release__canonical_version=normalize_version(version))
    return files.order_by("-uploaded_at", "-pk")


def file_for(*, repository: Repository, filename: str) -> File:
    file = files_of(repository=repository).filter(filename=filename).first()
    if file is None:
        raise NotFound(f"File '{filename}' not found in '{repository}'.")
    return file


def file_of_release(*, release: Release, file_id: int) -> File:
    file = release.files.select_related("repository__organization").filter(pk=file_id).first()
    if file is None:
        raise NotFound("File not found.")
    return file


# The index --------------------------------------------------------------------------------------


class IndexFile(NamedTuple):
    """What an index page says about one file: all of it from the database, none from storage."""

    filename: str
    sha256: str
    size: int | None  # None: an upstream that gives no size
    requires_python: str
    uploaded_at: datetime | None  # None: an upstream that gives no upload time
    metadata_sha256: str
    version: str
    yanked: bool
    yanked_reason: str


def index_project_list(*, repository: Repository) -> list[tuple[str, str]]:
    """(name, normalized name) of the projects that have something to install."""
    return list(
        Project.objects.filter(repository=repository, releases__files__status=FileStatus.READY)
        .distinct()
        .order_by("normalized_name")
        .values_list("name", "normalized_name")
    )


def index_project_files(*, project: Project) -> list[IndexFile]:
    """The files an installer may see, in one query."""
    rows = (
        File.objects.filter(release__project=project, status=FileStatus.READY)
        .order_by("release__created_at", "filename")
        .values_list(
            "filename",
            "sha256",
            "size",
            "requires_python",
            "uploaded_at",
            "metadata_sha256",
            "release__version",
            "release__yanked",
            "release__yanked_reason",
        )
    )
    return [IndexFile(*row) for row in rows]


def ready_files_by_release(*, project: Project) -> dict[Release, list[File]]:
    """The project's ready files grouped by release, oldest release first, in one query."""
    grouped: dict[Release, list[File]] = {}
    ready = (
        File.objects.filter(release__project=project, status=FileStatus.READY)
        .select_related("release")
        .order_by("release__created_at", "filename")
    )
    for file in ready:
        grouped.setdefault(file.release, []).append(file)
    return grouped


def ready_file_get(*, repository: Repository, sha256: str, filename: str) -> File | None:
    return File.objects.filter(
        repository=repository, sha256=sha256, filename=filename, status=FileStatus.READY
    ).first()


# Usage ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    storage_bytes: int
    file_count: int
    project_count: int
    release_count: int
    repository_count: int


def organization_usage(*, organization: Organization) -> Usage:
    """What an organization occupies: stored bytes and counts of files, projects and releases.

    Pending and rejected files count too: their bytes are stored until processed or deleted."""
    return _usage(Repository.objects.filter(organization=organization))


def usage_for(*, actor: Actor, organization: Organization) -> Usage:
    """What the actor may see the organization occupy: the repositories it may read. People
    and all-repository keys see the whole organization; a limited key only its repositories,
    so it learns nothing of the others, not even how many there are (review L5)."""
    return _usage(repositories_for(actor=actor, organization=organization))


def _usage(repositories: QuerySet[Repository]) -> Usage:
    # Each count filters on the repositories as a subquery: four queries, whatever the scope.
    files = File.objects.filter(repository__in=repositories).aggregate(
        size=Sum("size"), count=Count("pk")
    )
    return Usage(
        storage_bytes=files["size"] or 0,
        file_count=files["count"],
        project_count=Project.objects.filter(repository__in=repositories).count(),
        release_count=Release.objects.filter(project__repository__in=repositories).count(),
        repository_count=repositories.count(),
    )
