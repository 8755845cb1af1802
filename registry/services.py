"""Writes for repositories, projects, releases and files, and the deletion of an organization
with everything stored for it. Each service checks who may act and owns its transaction."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from accounts.models import Organization
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import forget_roles
from accounts.permissions import require
from accounts.services import alias_expiry
from accounts.services import audit_record
from core.errors import Conflict
from core.events import EventType
from registry.filters import rules_parse
from registry.links import url_without_credentials
from registry.models import DEFAULT_UPSTREAM_URL
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import DeletedFilename
from registry.models import File
from registry.models import Project
from registry.models import ProjectStatus
from registry.models import Release
from registry.models import Repository
from registry.models import RepositoryKind
from registry.models import RepositorySlugAlias
from registry.models import UpstreamOverride
from registry.models import VirtualMember
from registry.names import normalize_name
from registry.signals import project_content_changed
from registry.storage import stored_keys
from registry.tasks import delete_stored_objects_on_commit

UPLOAD_REFUSING_STATUSES = frozenset({ProjectStatus.ARCHIVED, ProjectStatus.QUARANTINED})


class DeletionNotAllowed(Conflict):
    """The repository's policy keeps its files: yank instead."""


# Repositories -----------------------------------------------------------------------------------


def repository_get_or_create(
    *, organization: Organization, slug: str, description: str = ""
) -> Repository:
    """For provisioning scripts: the repository, created if new (no actor: the operator)."""
    repository = Repository.objects.filter(organization=organization, slug=slug).first()
    if repository is None:
        repository = Repository(organization=organization, slug=slug, description=description)
        repository.full_clean()
        _former_slug_release(repository)
        repository.save()
        audit_record(
            organization=organization,
            action="repository.create",
            target=f"repository {organization.slug}/{slug}",
            details={"via": "provisioning"},
        )
    return repository


def _former_slug_release(repository: Repository) -> None:
    """The repository now takes its slug: another repository's former slug of that name
    stops answering (audited), and its own (renaming back) is simply gone."""
    alias = (
        RepositorySlugAlias.objects.filter(
            organization_id=repository.organization_id, slug=repository.slug
        )
        .select_related("repository")
        .first()
    )
    if alias is None:
        return
    alias.delete()
    if alias.repository_id != repository.pk:
        audit_record(
            organization=repository.organization,
            action="repository.former_slug_taken",
            target=f"repository {repository.organization.slug}/{alias.repository.slug}",
            details={"former_slug": alias.slug},
        )


def _validate_unique_slug(repository: Repository) -> None:
    clash = Repository.objects.filter(organization=repository.organization, slug=repository.slug)
    if repository.pk:
        clash = clash.exclude(pk=repository.pk)
    if clash.exists():
        raise ValidationError({"slug": f"A repository named '{repository.slug}' already exists."})


class _Keep:
    """Marks an argument the caller did not pass: the current value stays."""


KEEP: Any = _Keep()

# The settings of each kind (beyond slug, description and policies), and which of them change
# what the index lists (their change re-renders the repository's pages).
PROXY_SETTINGS = (
    "upstream_url",
    "upstream_username",
    "upstream_password",
    "cache_ttl",
    "cooldown_days",
    "snapshot_at",
    "allow_rules",
    "deny_rules",
    "exempt_names",
)
VIRTUAL_SETTINGS = ("members", "upload_target")
MAX_CACHE_TTL = 7 * 24 * 3600


@transaction.atomic
def repository_create(
    *,
    organization: Organization,
    actor: Actor,
    slug: str,
    description: str = "",
    allow_file_deletion: bool = True,
    kind: str = RepositoryKind.HOSTED,
    source_ip: str | None = None,
    **options: Any,
) -> Repository:
    """A new, empty repository in the organization. A proxy takes PROXY_SETTINGS (its
    upstream defaults to PyPI), a virtual repository VIRTUAL_SETTINGS (member slugs in merge
    order, and the slug of the hosted member uploads go to)."""
    require(actor, Action.MANAGE_REPOSITORIES, organization)
    if kind not in RepositoryKind.values:
        raise ValidationError(
            {"kind": f"Unknown kind '{kind}'; use one of {', '.join(RepositoryKind.values)}."}
        )
    repository = Repository(
        organization=organization,
        slug=slug,
        description=description,
        allow_file_deletion=allow_file_deletion,
        kind=kind,
    )
    if kind == RepositoryKind.PROXY:
        repository.upstream_url = DEFAULT_UPSTREAM_URL
    repository.full_clean(validate_constraints=False)
    _validate_unique_slug(repository)
    _former_slug_release(repository)
    repository.save()
    changed = _settings_apply(repository, options)
    audit_record(
        organization=organization,
        action="repository.create",
        actor=actor,
        target=f"repository {organization.slug}/{slug}",
        source_ip=source_ip,
        details={"kind": kind, "allow_file_deletion": allow_file_deletion, **changed},
    )
    return repository


def _settings_apply(repository: Repository, options: dict[str, Any]) -> dict[str, Any]:
    """Check and save the kind-specific settings passed; what changed, for the audit log
    (never a password: only whether one is set)."""
    given = {name: value for name, value in options.items() if not isinstance(value, _Keep)}
    allowed = {
        RepositoryKind.PROXY: PROXY_SETTINGS,
        RepositoryKind.VIRTUAL: VIRTUAL_SETTINGS,
    }.get(RepositoryKind(repository.kind), ())
    for name in given:
        if name not in PROXY_SETTINGS + VIRTUAL_SETTINGS:
            raise TypeError(f"Unknown repository setting {name!r}.")
        if name not in allowed:
            raise ValidationError(
                {name: f"A {repository.kind} repository has no '{name}' setting."}
            )
    if not given:
        return {}
    if repository.kind == RepositoryKind.PROXY:
        return _proxy_settings_apply(repository, given)
    return _virtual_settings_apply(repository, given)


def _proxy_settings_apply(repository: Repository, given: dict[str, Any]) -> dict[str, Any]:
    before = {name: getattr(repository, name) for name in given}
    for name, value in given.items():
        if value is None and name == "cache_ttl":
            value = Repository._meta.get_field("cache_ttl").get_default()
        elif value is None and name not in ("cooldown_days", "snapshot_at"):
            value = ""  # a text setting cleared
        elif name == "cooldown_days" and not value:
            value = None  # no cooldown
        setattr(repository, name, value)
    if not repository.upstream_url:
        repository.upstream_url = DEFAULT_UPSTREAM_URL
    if urlsplit(repository.upstream_url).scheme not in ("http", "https"):
        raise ValidationError({"upstream_url": "The upstream must be an http or https URL."})
    if repository.cache_ttl > MAX_CACHE_TTL:
        raise ValidationError(
            {"cache_ttl": f"Keep pages at most {MAX_CACHE_TTL} seconds (a week)."}
        )
    rules_parse(repository.allow_rules, field="allow_rules")
    rules_parse(repository.deny_rules, field="deny_rules")
    rules_parse(repository.exempt_names, field="exempt_names", names_only=True)
    repository.full_clean(validate_constraints=False)
    changed = [name for name in given if getattr(repository, name) != before[name]]
    if not changed:
        return {}
    repository.config_serial = F("config_serial") + 1
    repository.save(update_fields=[*changed, "upstream_url", "config_serial"])
    repository.refresh_from_db(fields=["config_serial"])
    return {"settings": {name: _audited(repository, name) for name in changed}}


def _audited(repository: Repository, name: str) -> Any:
    """A setting as the audit log keeps it: never a password, nor one written into a URL."""
    value = getattr(repository, name)
    if name == "upstream_password":
        return "set" if value else "cleared"
    if name == "upstream_url":
        return url_without_credentials(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _virtual_settings_apply(repository: Repository, given: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if "members" in given:
        slugs = list(given["members"])
        if len(set(slugs)) != len(slugs):
            raise ValidationError({"members": "A repository can be a member only once."})
        found = {
            r.slug: r
            for r in Repository.objects.filter(organization=repository.organization, slug__in=slugs)
        }
        for slug in slugs:
            member = found.get(slug)
            if member is None:
                raise ValidationError({"members": f"No repository '{slug}' in this organization."})
            if member.kind == RepositoryKind.VIRTUAL:
                raise ValidationError(
                    {"members": f"'{slug}' is virtual; members are hosted or proxy repositories."}
                )
        VirtualMember.objects.filter(virtual=repository).delete()
        VirtualMember.objects.bulk_create(
            VirtualMember(virtual=repository, member=found[slug], position=position)
            for position, slug in enumerate(slugs)
        )
        details["members"] = slugs
    if "upload_target" in given:
        target_slug = given["upload_target"] or None
        details["upload_target"] = target_slug
        repository.upload_target = None
        if target_slug is not None:
            repository.upload_target = Repository.objects.filter(
                organization=repository.organization, slug=target_slug
            ).first()
            if repository.upload_target is None:
                raise ValidationError(
                    {"upload_target": f"No repository '{target_slug}' in this organization."}
                )
    target = repository.upload_target
    if (
        target is not None
        and not VirtualMember.objects.filter(
            virtual=repository, member=target, member__kind=RepositoryKind.HOSTED
        ).exists()
    ):
        raise ValidationError(
            {"upload_target": f"The upload target must be a hosted member of '{repository.slug}'."}
        )
    repository.config_serial = F("config_serial") + 1
    repository.save(update_fields=["upload_target", "config_serial"])
    repository.refresh_from_db(fields=["config_serial"])
    return details


@transaction.atomic
def repository_update(
    *,
    repository: Repository,
    actor: Actor,
    slug: str = KEEP,
    description: str = KEEP,
    allow_file_deletion: bool = KEEP,
    max_file_size: int | None = KEEP,
    kind: str = KEEP,
    source_ip: str | None = None,
    **options: Any,
) -> Repository:
    """Rename, describe or change the policies or kind-specific settings of a repository, in
    one audited change. Renaming changes its index and upload URLs; the former ones keep
    answering until SLUG_ALIAS_DAYS from now (an alias, written in this transaction; renaming
    back removes it, a new repository taking the slug drops it). What is not passed stays
    as it is; a max_file_size of None means the server-wide limit. A kind never changes:
    passing another one is refused (callers that echo the kind back may pass it)."""
    organization = repository.organization
    require(actor, Action.MANAGE_REPOSITORIES, organization)
    if not isinstance(kind, _Keep) and kind != repository.kind:
        raise ValidationError(
            {
                "kind": f"'{repository.slug}' is a {repository.kind} repository and stays one; "
                "create a new repository of another kind instead."
            }
        )
    if not isinstance(max_file_size, _Keep | None) and not (
        0 < max_file_size <= settings.MAX_UPLOAD_SIZE
    ):
        raise ValidationError(
            {"max_file_size": "The limit must be positive and at most the server's limit."}
        )
    changes = {
        "slug": slug,
        "description": description,
        "allow_file_deletion": allow_file_deletion,
        "max_file_size": max_file_size,
    }
    fields = [name for name, value in changes.items() if not isinstance(value, _Keep)]
    before = {name: getattr(repository, name) for name in fields}
    former = repository.slug
    for name in fields:
        setattr(repository, name, changes[name])
    repository.full_clean(validate_constraints=False)
    _validate_unique_slug(repository)
    changed: dict[str, Any] = {}
    if repository.slug != former:
        _former_slug_release(repository)
        until = alias_expiry()
        RepositorySlugAlias.objects.update_or_create(
            organization_id=repository.organization_id,
            slug=former,
            defaults={"repository": repository, "expires_at": until},
        )
        changed["former_slug_until"] = until.isoformat()
    repository.save(update_fields=fields)
    changed |= _settings_apply(repository, options)
    audit_record(
        organization=organization,
        action="repository.update",
        actor=actor,
        target=f"repository {organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={
            "before": before,
            "after": {name: getattr(repository, name) for name in fields},
            **changed,
        },
    )
    return repository


@transaction.atomic
def repository_delete(
    *, repository: Repository, actor: Actor, confirm_slug: str, source_ip: str | None = None
) -> None:
    """Delete a repository with its projects and files; stored objects go after the commit."""
    organization = repository.organization
    require(actor, Action.MANAGE_REPOSITORIES, organization)
    if confirm_slug != repository.slug:
        raise ValidationError("Type the repository's name exactly to confirm deletion.")
    keys = stored_keys(File.objects.filter(repository=repository))
    keys += stored_keys(CachedFile.objects.filter(repository=repository))
    audit_record(
        organization=organization,
        action="repository.delete",
        actor=actor,
        target=f"repository {organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"stored_objects": len(keys)},
    )
    repository.delete()
    delete_stored_objects_on_commit(keys)


# Organizations ----------------------------------------------------------------------------------
# Deleting an organization lives here, not in accounts: it must also delete the files stored
# for it, which only this app knows about, and accounts never imports the apps above it.


def organization_delete(
    *, organization: Organization, actor: Actor, confirm_slug: str, source_ip: str | None = None
) -> None:
    """Delete an organization and everything in it; its stored files go after the commit."""
    require(actor, Action.DELETE_ORGANIZATION, organization)
    if confirm_slug != organization.slug:
        raise ValidationError("Type the organization's slug exactly to confirm deletion.")
    with transaction.atomic():
        files = File.objects.filter(repository__organization=organization)
        keys = stored_keys(files.only("storage_key", "metadata_sha256"))
        keys += stored_keys(CachedFile.objects.filter(repository__organization=organization))
        audit_record(
            organization=None,
            action="organization.delete",
            actor=actor,
            target=f"organization {organization.slug}",
            source_ip=source_ip,
            details={"organization": organization.slug, "stored_objects": len(keys)},
        )
        organization.delete()
        delete_stored_objects_on_commit(keys)
    forget_roles(actor)


# Proxy caches and upstream overrides ------------------------------------------------------------


@transaction.atomic
def proxy_purge(
    *,
    repository: Repository,
    actor: Actor,
    normalized_name: str | None = None,
    source_ip: str | None = None,
) -> int:
    """Forget what a proxy cached, of one project or of all: the next request fetches it
    again from the upstream. Returns how many projects were forgotten."""
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization)
    if repository.kind != RepositoryKind.PROXY:
        raise ValidationError(f"'{repository.slug}' is not a proxy repository; nothing is cached.")
    projects = CachedProject.objects.filter(repository=repository)
    if normalized_name is not None:
        projects = projects.filter(normalized_name=normalize_name(normalized_name))
    keys = stored_keys(CachedFile.objects.filter(project__in=projects))
    count = projects.count()
    audit_record(
        organization=repository.organization,
        action="repository.purge",
        actor=actor,
        target=f"repository {repository.organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"project": normalized_name, "projects": count, "stored_objects": len(keys)},
    )
    projects.delete()
    delete_stored_objects_on_commit(keys)
    return count


@transaction.atomic
def upstream_override_set(
    *,
    repository: Repository,
    actor: Actor,
    name: str,
    allowed: bool,
    reason: str = "",
    source_ip: str | None = None,
) -> None:
    """Let a virtual repository list upstream versions of a name its hosted members hold
    (`allowed`), or go back to private names winning."""
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization)
    if repository.kind != RepositoryKind.VIRTUAL:
        raise ValidationError(
            f"'{repository.slug}' is not virtual; only virtual repositories merge upstream names."
        )
    normalized = normalize_name(name)
    if not normalized:
        raise ValidationError({"name": "Name the project."})
    if allowed:
        UpstreamOverride.objects.update_or_create(
            repository=repository, normalized_name=normalized, defaults={"reason": reason.strip()}
        )
    else:
        UpstreamOverride.objects.filter(repository=repository, normalized_name=normalized).delete()
    Repository.objects.filter(pk=repository.pk).update(config_serial=F("config_serial") + 1)
    audit_record(
        organization=repository.organization,
        action="repository.upstream_allow" if allowed else "repository.upstream_deny",
        actor=actor,
        target=f"repository {repository.organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"project": normalized, "reason": reason.strip()},
    )


# Releases and files -----------------------------------------------------------------------------


@transaction.atomic
def release_yank(
    *, release: Release, actor: Actor, reason: str = "", source_ip: str | None = None
) -> Release:
    """PEP 592: installers skip the release unless pinned to it exactly; reversible."""
    require(actor, Action.YANK, release.project.repository.organization, release.project.repository)
    release.yanked = True
    release.yanked_reason = reason.strip()
    release.save(update_fields=["yanked", "yanked_reason"])
    project_touch(project_id=release.project_id)
    _audit_release(
        release,
        "release.yank",
        actor,
        source_ip,
        {"reason": release.yanked_reason},
        event=EventType.RELEASE_YANKED,
    )
    return release


@transaction.atomic
def release_unyank(*, release: Release, actor: Actor, source_ip: str | None = None) -> Release:
    require(actor, Action.YANK, release.project.repository.organization, release.project.repository)
    release.yanked = False
    release.yanked_reason = ""
    release.save(update_fields=["yanked", "yanked_reason"])
    project_touch(project_id=release.project_id)
    _audit_release(release, "release.unyank", actor, source_ip, event=EventType.RELEASE_UNYANKED)
    return release


@transaction.atomic
def file_delete(*, file: File, actor: Actor, source_ip: str | None = None) -> None:
    """Remove one file for good; its filename can never be uploaded to this repository again."""
    repository = file.repository
    require(actor, Action.DELETE, repository.organization, repository)
    _check_deletion_allowed(repository)
    _retire_files([file])
    File.objects.filter(pk=file.pk).delete()
    project_touch(project_id=file.release.project_id)
    audit_record(
        organization=repository.organization,
        action="file.delete",
        actor=actor,
        target=f"file {repository}/{file.filename}",
        source_ip=source_ip,
        event=EventType.FILE_DELETED,
        repository_id=repository.pk,
        subject={
            **release_subject(file.release),
            "filename": file.filename,
            "sha256": file.sha256,
        },
    )


@transaction.atomic
def release_delete(*, release: Release, actor: Actor, source_ip: str | None = None) -> None:
    """Remove a release and all its files; none of their filenames can ever be reused."""
    repository = release.project.repository
    require(actor, Action.DELETE, repository.organization, repository)
    _check_deletion_allowed(repository)
    files = list(File.objects.select_for_update().filter(release=release))
    _retire_files(files)
    _audit_release(
        release,
        "release.delete",
        actor,
        source_ip,
        {"files": [f.filename for f in files]},
        event=EventType.RELEASE_DELETED,
    )
    Release.objects.filter(pk=release.pk).delete()
    project_touch(project_id=release.project_id)


def _audit_release(
    release: Release,
    action: str,
    actor: Actor,
    source_ip: str | None,
    details: dict[str, object] | None = None,
    *,
    event: EventType,
) -> None:
    repository = release.project.repository
    audit_record(
        organization=repository.organization,
        action=action,
        actor=actor,
        target=f"release {repository}/{release.project.name} {release.version}",
        source_ip=source_ip,
        details=details,
        event=event,
        repository_id=repository.pk,
        subject=release_subject(release),
    )


def release_subject(release: Release) -> dict[str, str]:
    """What an event about this release (or one of its files) names: repository, project,
    version."""
    return {
        "repository": release.project.repository.slug,
        "project": release.project.name,
        "version": release.version,
    }


def _check_deletion_allowed(repository: Repository) -> None:
    if not repository.allow_file_deletion:
        raise DeletionNotAllowed(
            f"Repository '{repository}' does not allow deleting files; yank the release instead."
        )


def _retire_files(files: list[File]) -> None:
    """Tombstone the filenames now; remove the stored objects only once that has committed."""
    for file in files:
        DeletedFilename.objects.get_or_create(
            repository_id=file.repository_id,
            filename=file.filename,
            defaults={"sha256": file.sha256},
        )
    delete_stored_objects_on_commit(stored_keys(files))


# Projects ---------------------------------------------------------------------------------------


def project_touch(*, project_id: int) -> None:
    """Record that what the index shows for a project changed (a file became ready, a release
    was yanked, the status moved): its pages are rendered anew. (The repository's root page
    is tagged by a digest of the names it lists, `registry.listings`, so it needs no serial.)"""
    Project.objects.filter(pk=project_id).update(serial=F("serial") + 1)
    project_content_changed(project_id=project_id)


STATUS_REASON_MAX = 500


@transaction.atomic
def project_status_set(
    *,
    project: Project,
    actor: Actor,
    status: str,
    reason: str = "",
    source_ip: str | None = None,
) -> Project:
    """PEP 792: archived projects take no uploads; quarantined ones offer no files; active
    ones are back to normal. Whoever may yank (it hides files too): owners, admins, and keys
    with the yank scope."""
    repository = project.repository
    require(actor, Action.YANK, repository.organization, repository)
    if status not in ProjectStatus.values:
        raise ValidationError({"status": f"Unknown status '{status}'."})
    reason = reason.strip()
    if len(reason) > STATUS_REASON_MAX:
        raise ValidationError({"reason": f"At most {STATUS_REASON_MAX} characters."})
    previous = project.status
    project.status = ProjectStatus(status)
    # An active project has nothing to explain; a stale reason would read as current.
    project.status_reason = "" if status == ProjectStatus.ACTIVE else reason
    project.save(update_fields=["status", "status_reason"])
    project_touch(project_id=project.pk)
    audit_record(
        organization=repository.organization,
        action="project.status",
        actor=actor,
        target=f"project {repository}/{project.name}",
        source_ip=source_ip,
        details={"from": previous, "to": project.status, "reason": project.status_reason},
    )
    return project


@transaction.atomic
def project_badge_set(
    *, project: Project, actor: Actor, public: bool, source_ip: str | None = None
) -> Project:
    """Let anyone read the project's README badge (its name and latest version), or only
    those who may read the repository. Owners and admins: it shows something of a private
    registry to the world."""
    repository = project.repository
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization, repository)
    if project.public_badge != public:
        project.public_badge = public
        project.save(update_fields=["public_badge"])
        audit_record(
            organization=repository.organization,
            action="project.badge",
            actor=actor,
            target=f"project {repository}/{project.name}",
            source_ip=source_ip,
            details={"public": public},
        )
    return project


def project_upload_refusal(*, repository: Repository, name: str) -> str | None:
    """Why the project `name` takes no new files, or None when it does."""
    project = (
        Project.objects.filter(repository=repository, normalized_name=normalize_name(name))
        .only("name", "status", "status_reason")
        .first()
    )
    if project is None or project.status not in UPLOAD_REFUSING_STATUSES:
        return None
    reason = f": {project.status_reason}" if project.status_reason else "."
    return f"Project '{project.name}' is {project.status} and accepts no uploads{reason}"
