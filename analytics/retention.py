"""Retention policies: which releases of a hosted repository go, and deleting them.

Per project, in PEP 440 order (registry.names): final releases beyond the newest N, and dev,
pre-release or local versions older than D days, are deleted; never the latest release (the
one rule of registry.names.latest_release), never a release any file of which was
downloaded within the protection window, and never a version PEP 440 cannot read. Every
deletion is the registry's own (registry.services.release_delete): checked against the
actor's role or key, audited, its filenames reserved for good, its stored objects removed
by the storage task once committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import require
from accounts.services import audit_record
from analytics.models import RetentionPolicy
from analytics.selectors import downloaded_versions
from core.errors import Conflict
from registry.models import File
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.models import RepositoryKind
from registry.names import latest_release
from registry.names import newest_first
from registry.names import parse_version
from registry.services import release_delete

logger = logging.getLogger(__name__)

# Bounds on what a policy may say: at least one final release kept; windows up to ten years.
MAX_DAYS = 3650
MAX_KEEP = 10_000


@dataclass(frozen=True)
class Doomed:
    """A release the policy deletes, with its files and why."""

    release: Release
    project: str
    filenames: list[str]
    reason: str


@dataclass(frozen=True)
class Plan:
    repository: Repository
    releases: list[Doomed]

    @property
    def filenames(self) -> list[str]:
        return sorted(name for doomed in self.releases for name in doomed.filenames)


def _is_final(version: str) -> bool | None:
    """True for a final (or post) release, False for dev, pre or local; None: not PEP 440."""
    parsed = parse_version(version)
    if parsed is None:
        return None
    return not parsed.is_prerelease and parsed.local is None


def retention_plan(*, repository: Repository, policy: RetentionPolicy) -> Plan:
    """What applying the policy now would delete (three queries, whatever the history)."""
    protected = downloaded_versions(repository=repository, days=policy.protect_downloaded_days)
    cutoff = (
        timezone.now() - dt.timedelta(days=policy.prerelease_days)
        if policy.prerelease_days is not None
        else None
    )
    projects = Project.objects.filter(repository=repository).prefetch_related(
        Prefetch("releases", queryset=Release.objects.prefetch_related("files"))
    )
    doomed: list[Doomed] = []
    for project in projects.order_by("normalized_name"):
        project.repository = repository
        releases = list(project.releases.all())
        latest = latest_release(releases)
        finals = [r for r in newest_first(releases) if _is_final(r.version)]
        reasons: dict[int, str] = {}
        if policy.keep_finals is not None:
            for release in finals[policy.keep_finals :]:
                reasons[release.pk] = f"beyond the newest {policy.keep_finals} final releases"
        if cutoff is not None:
            for release in releases:
                if _is_final(release.version) is False and release.created_at < cutoff:
                    reasons[release.pk] = (
                        f"a dev, pre or local release older than {policy.prerelease_days} days"
                    )
        for release in newest_first(releases):
            if release.pk not in reasons or release == latest:
                continue
            if (project.normalized_name, release.canonical_version) in protected:
                continue
            release.project = project
            files: list[File] = list(release.files.all())
            doomed.append(
                Doomed(
                    release=release,
                    project=project.normalized_name,
                    filenames=sorted(f.filename for f in files),
                    reason=reasons[release.pk],
                )
            )
    return Plan(repository=repository, releases=doomed)


def policy_plan(*, repository: Repository, policy: RetentionPolicy | None) -> Plan:
    """The dry run: what the saved policy would delete now (nothing without a policy)."""
    if policy is None:
        return Plan(repository=repository, releases=[])
    return retention_plan(repository=repository, policy=policy)


def _check_can_configure(actor: Actor, repository: Repository) -> None:
    # A policy deletes on a schedule: whoever sets it must be allowed to manage the
    # repository's settings and to delete its releases, by role (owners, admins) or by the
    # key's scopes (manage:repositories and delete).
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization, repository)
    require(actor, Action.DELETE, repository.organization, repository)


def _bounded(name: str, value: int | None, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise ValidationError({name: f"Must be between {low} and {high}."})
    return value


@transaction.atomic
def retention_policy_set(
    *,
    repository: Repository,
    actor: Actor,
    enabled: bool,
    keep_finals: int | None,
    prerelease_days: int | None,
    protect_downloaded_days: int,
    source_ip: str | None = None,
) -> RetentionPolicy:
    _check_can_configure(actor, repository)
    if repository.kind != RepositoryKind.HOSTED:
        raise ValidationError(
            {"repository": "Retention applies to hosted repositories only (they hold uploads)."}
        )
    if enabled and not repository.allow_file_deletion:
        raise Conflict(
            f"Repository '{repository}' does not allow deleting files: allow it in its "
            "settings before enabling a retention policy."
        )
    policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(repository=repository)
    policy.enabled = enabled
    policy.keep_finals = _bounded("keep_finals", keep_finals, 1, MAX_KEEP)
    policy.prerelease_days = _bounded("prerelease_days", prerelease_days, 0, MAX_DAYS)
    policy.protect_downloaded_days = (
        _bounded("protect_downloaded_days", protect_downloaded_days, 0, MAX_DAYS) or 0
    )
    policy.updated_by = actor if isinstance(actor, User) else None
    policy.updated_by_key = actor if isinstance(actor, ApiKey) else None
    policy.save()
    audit_record(
        organization=repository.organization,
        action="retention.set",
        actor=actor,
        target=f"repository {repository}",
        source_ip=source_ip,
        details={
            "enabled": policy.enabled,
            "keep_finals": policy.keep_finals,
            "prerelease_days": policy.prerelease_days,
            "protect_downloaded_days": policy.protect_downloaded_days,
        },
    )
    return policy


@transaction.atomic
def retention_apply(
    *, repository: Repository, policy: RetentionPolicy, actor: Actor, source_ip: str | None = None
) -> Plan:
    """Delete what the plan lists, each release through the registry's deletion service."""
    plan = retention_plan(repository=repository, policy=policy)
    for doomed in plan.releases:
        release_delete(release=doomed.release, actor=actor, source_ip=source_ip)
    if plan.releases:
        audit_record(
            organization=repository.organization,
            action="retention.apply",
            actor=actor,
            target=f"repository {repository}",
            source_ip=source_ip,
            details={"files": plan.filenames},
        )
    return plan


def policy_actor(policy: RetentionPolicy) -> Actor | None:
    """Who a scheduled run acts as: whoever set the policy (their role or key still decides)."""
    return policy.updated_by_key or policy.updated_by


def retention_apply_all() -> dict[str, int]:
    """The scheduled run: every enabled policy, each repository on its own (one that fails
    is recorded on its policy and does not stop the others). Files deleted, by repository."""
    deleted: dict[str, int] = {}
    policies = RetentionPolicy.objects.filter(enabled=True).select_related(
        "repository__organization", "updated_by", "updated_by_key__user"
    )
    for policy in policies:
        repository = policy.repository
        actor = policy_actor(policy)
        outcome = ""
        try:
            if actor is None:
                raise PermissionDenied("Whoever set this policy is gone; set it again.")
            plan = retention_apply(repository=repository, policy=policy, actor=actor)
            deleted[str(repository)] = len(plan.filenames)
            outcome = f"Deleted {len(plan.filenames)} files."
        except (PermissionDenied, Conflict, ValidationError) as exc:
            outcome = f"Not applied: {exc}"
            logger.warning("Retention of %s not applied: %s", repository, exc)
        policy.last_run_at = timezone.now()
        policy.last_run_outcome = outcome[:500]
        policy.save(update_fields=["last_run_at", "last_run_outcome"])
    return deleted
