"""Trusted publishers: configuring them (organization admins), and exchanging a CI identity
token for a short-lived upload key (anyone holding a token that matches one).

The minted credential is an ordinary API key (only its hash is stored) with the upload scope,
limited to the matching publishers' repositories (and project), expiring after
OIDC_TOKEN_LIFETIME: every place that checks keys checks it, the hot path's expiry included.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import require
from accounts.services import api_key_create
from accounts.services import audit_record
from publishing.matching import audited_claims
from publishing.matching import mismatch
from publishing.models import PublisherKind
from publishing.models import TrustedPublisher
from publishing.models import UsedIdentityToken
from publishing.oidc import TokenRefused
from publishing.oidc import issuer_url_problem
from publishing.oidc import unverified_issuer
from publishing.oidc import verify_token
from registry.models import Repository
from registry.models import RepositoryKind
from registry.names import normalize_name

# The shapes of what publisher_create accepts (the REST API's schema states them too).
PROJECT_NAME_PATTERN = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])?$"
GITHUB_REPOSITORY_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$"
CI_REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$"
WORKFLOW_FILE_PATTERN = r"^[A-Za-z0-9_.-]+\.ya?ml$"
WORKFLOW_PATTERN = r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_.-]+\.ya?ml$"
ISSUER_PATTERN = r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*/?$"
NUMERIC_ID_PATTERN = r"^[0-9]*$"
_PROJECT_NAME = re.compile(PROJECT_NAME_PATTERN)
_GITHUB_SOURCE = re.compile(GITHUB_REPOSITORY_PATTERN)
_GITLAB_SOURCE = re.compile(CI_REPOSITORY_PATTERN)
_WORKFLOW_FILE = re.compile(WORKFLOW_FILE_PATTERN)
_NUMERIC_ID = re.compile(NUMERIC_ID_PATTERN)
DEFAULT_GITLAB_CI_CONFIG = ".gitlab-ci.yml"
GITHUB_ID_HELP = "GitHub ids are numbers (leave blank to record them at first use)."
GITLAB_PATH_HELP = "Give the GitLab project's path: namespace/project (groups included)."
NEEDS_A_CLAIM = "Require at least one claim (such as sub) that only your pipelines' tokens carry."
NEEDS_A_CLAIM = "Require at least one claim (such as sub) that only your pipelines' tokens carry."


# Configuring publishers --------------------------------------------------------------------------


def _clean_project(project: str) -> str:
    project = project.strip()
    if project and not _PROJECT_NAME.match(project):
        raise ValidationError({"project": f"'{project}' is not a valid project name."})
    return normalize_name(project) if project else ""


def _clean_issuer(issuer: str) -> str:
    issuer = issuer.strip().rstrip("/")
    if problem := issuer_url_problem(issuer):
        raise ValidationError({"issuer": problem})
    return issuer


def _github_fields(fields: dict[str, Any]) -> dict[str, Any]:
    ci_repository = fields["ci_repository"].strip().removeprefix("https://github.com/").strip("/")
    if not _GITHUB_SOURCE.match(ci_repository):
        raise ValidationError({"ci_repository": "Give the GitHub repository as owner/name."})
    workflow = fields["workflow"].strip().removeprefix(".github/workflows/")
    if not _WORKFLOW_FILE.match(workflow):
        raise ValidationError(
            {"workflow": "Give the workflow's filename in .github/workflows/, e.g. release.yml."}
        )
    for name in ("owner_id", "ci_repository_id"):
        if not _NUMERIC_ID.match(fields[name].strip()):
            raise ValidationError({name: GITHUB_ID_HELP})
    return {
        "ci_repository": ci_repository,
        "workflow": workflow,
        "owner_id": fields["owner_id"].strip(),
        "ci_repository_id": fields["ci_repository_id"].strip(),
    }


def _gitlab_fields(fields: dict[str, Any]) -> dict[str, Any]:
    ci_repository = fields["ci_repository"].strip().strip("/")
    if not _GITLAB_SOURCE.match(ci_repository):
        raise ValidationError({"ci_repository": GITLAB_PATH_HELP})
    workflow = fields["workflow"].strip().lstrip("/") or DEFAULT_GITLAB_CI_CONFIG
    if ".." in workflow.split("/") or not workflow.endswith((".yml", ".yaml")):
        raise ValidationError(
            {"workflow": "Give the CI configuration's path, e.g. .gitlab-ci.yml."}
        )
    issuer = _clean_issuer(fields["issuer"] or settings.OIDC_GITLAB_ISSUER)
    return {"ci_repository": ci_repository, "workflow": workflow, "issuer": issuer}


def _oidc_fields(fields: dict[str, Any]) -> dict[str, Any]:
    claims = fields["required_claims"] or {}
    if not isinstance(claims, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in claims.items()
    ):
        raise ValidationError({"required_claims": "Claims are names with text values."})
    if not claims:
        # Without one, every token the issuer signs for anyone (every pipeline of every
        # customer of a CI service) could publish here.
        raise ValidationError({"required_claims": NEEDS_A_CLAIM})
    if not fields["issuer"].strip():
        raise ValidationError({"issuer": "Give the issuer's URL."})
    return {
        "issuer": _clean_issuer(fields["issuer"]),
        "audience": fields["audience"].strip(),
        "required_claims": dict(sorted(claims.items())),
    }


_KIND_FIELDS = {
    PublisherKind.GITHUB: _github_fields,
    PublisherKind.GITLAB: _gitlab_fields,
    PublisherKind.OIDC: _oidc_fields,
}


@transaction.atomic
def publisher_create(
    *,
    repository: Repository,
    actor: Actor,
    kind: str,
    project: str = "",
    ci_repository: str = "",
    workflow: str = "",
    environment: str = "",
    owner_id: str = "",
    ci_repository_id: str = "",
    issuer: str = "",
    audience: str = "",
    required_claims: dict[str, str] | None = None,
    source_ip: str | None = None,
) -> TrustedPublisher:
    """Trust a CI identity to publish to the repository (to `project` only, when given).

    GitHub takes `ci_repository` (owner/name), `workflow` (a filename in .github/workflows/), and
    optionally the immutable `owner_id` and `ci_repository_id` (else recorded at first use); GitLab
    `ci_repository` (namespace/project), `workflow` (the CI configuration's path) and `issuer` (the
    GitLab instance); another issuer its `issuer`, `audience` and `required_claims`."""
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization, repository)
    # A publisher mints upload keys: a key without the upload scope must not grant it that way.
    require(actor, Action.UPLOAD, repository.organization, repository)
    if kind not in PublisherKind.values:
        raise ValidationError(
            {"kind": f"Unknown kind '{kind}'; use one of {', '.join(PublisherKind.values)}."}
        )
    if repository.kind == RepositoryKind.PROXY:
        raise ValidationError("A proxy repository takes no uploads, so no trusted publishers.")
    given = {
        "ci_repository": ci_repository,
        "workflow": workflow,
        "owner_id": owner_id,
        "ci_repository_id": ci_repository_id,
        "issuer": issuer,
        "audience": audience,
        "required_claims": required_claims,
    }
    publisher = TrustedPublisher(
        repository=repository,
        kind=kind,
        project=_clean_project(project),
        environment=environment.strip() if kind != PublisherKind.OIDC else "",
        created_by=actor if isinstance(actor, User) else None,
        **_KIND_FIELDS[PublisherKind(kind)](given),
    )
    publisher.full_clean(exclude=["created_by"])
    if _same_exists(publisher):
        raise ValidationError("This trusted publisher is already configured here.")
    publisher.save()
    audit_record(
        organization=repository.organization,
        action="trusted_publisher.create",
        actor=actor,
        target=f"repository {repository.organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"publisher_id": publisher.pk, "kind": kind, "publisher": publisher.describe()},
    )
    return publisher


def _same_exists(publisher: TrustedPublisher) -> bool:
    same = TrustedPublisher.objects.filter(
        repository=publisher.repository,
        kind=publisher.kind,
        project=publisher.project,
        issuer=publisher.issuer,
        ci_repository__iexact=publisher.ci_repository,
        workflow=publisher.workflow,
        environment__iexact=publisher.environment,
    )
    return any(p.required_claims == publisher.required_claims for p in same)


@transaction.atomic
def publisher_delete(
    *, publisher: TrustedPublisher, actor: Actor, source_ip: str | None = None
) -> None:
    """Stop trusting the publisher. Keys it minted run out within OIDC_TOKEN_LIFETIME."""
    repository = publisher.repository
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization, repository)
    audit_record(
        organization=repository.organization,
        action="trusted_publisher.delete",
        actor=actor,
        target=f"repository {repository.organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"publisher_id": publisher.pk, "publisher": publisher.describe()},
    )
    publisher.delete()


# Exchanging an identity token ---------------------------------------------------------------------


@dataclass(frozen=True)
class MintedToken:
    token: str
    api_key: ApiKey
    expires_at: datetime


def _audiences(issuer: str) -> set[str]:
    """The audiences publishers of `issuer` accept; none when no publisher names it."""
    theirs = Q(issuer=issuer) & ~Q(kind=PublisherKind.GITHUB)
    if issuer == settings.OIDC_GITHUB_ISSUER.rstrip("/"):
        theirs |= Q(kind=PublisherKind.GITHUB)
    audiences = TrustedPublisher.objects.filter(theirs).values_list("audience", flat=True)
    return {audience or settings.OIDC_AUDIENCE for audience in audiences.distinct()}


def _candidates(issuer: str, claims: dict[str, Any]) -> list[TrustedPublisher]:
    """The publishers the verified claims could be about: GitHub's by repository, GitLab's by
    instance and project, other issuers' all (their required claims decide). In the order
    they were created: the minted key's name and the audit list them so, the same each time."""
    publishers = TrustedPublisher.objects.select_related("repository__organization").order_by("pk")
    found = list(
        publishers.filter(kind=PublisherKind.OIDC, issuer=issuer)
        | publishers.filter(
            kind=PublisherKind.GITLAB,
            issuer=issuer,
            ci_repository__iexact=str(claims.get("project_path", "")),
        )
    )
    if issuer == settings.OIDC_GITHUB_ISSUER.rstrip("/"):
        repository = str(claims.get("repository", ""))
        found += publishers.filter(kind=PublisherKind.GITHUB, ci_repository__iexact=repository)
    return found


def _matching(
    candidates: list[TrustedPublisher], claims: dict[str, Any], source_ip: str | None
) -> list[TrustedPublisher]:
    matched: list[TrustedPublisher] = []
    refused: dict[int, list[tuple[TrustedPublisher, str]]] = {}
    for publisher in candidates:
        reason = mismatch(publisher, claims)
        if reason is None:
            matched.append(publisher)
        elif reason:
            refused.setdefault(publisher.repository.organization_id, []).append((publisher, reason))
    if not matched:
        _audit_refusals(refused, claims, source_ip)
        reasons = sorted({reason for pairs in refused.values() for _, reason in pairs})
        why = "; ".join(reasons) or "no trusted publisher is configured for this identity"
        raise TokenRefused(
            "invalid-publisher", f"valid token, but no corresponding publisher ({why})"
        )
    organizations = {p.repository.organization_id for p in matched}
    if len(organizations) > 1:
        # Each organization trusts the identity for itself; one key cannot span tenants, and
        # choosing one for the holder would be a guess.
        raise TokenRefused(
            "invalid-publisher",
            "valid token, but it matches trusted publishers of more than one organization; "
            "a token can only be exchanged for one organization's repositories, so remove "
            "the publisher from all but one.",
        )
    if len({p.project for p in matched}) > 1:
        raise TokenRefused(
            "invalid-publisher",
            "valid token, but its trusted publishers are limited to different projects; "
            "configure them for the same project, or for any project.",
        )
    return matched


def _audit_refusals(
    refused: dict[int, list[tuple[TrustedPublisher, str]]],
    claims: dict[str, Any],
    source_ip: str | None,
) -> None:
    """Tell each organization whose publisher a signed token almost matched (same GitHub
    repository, GitLab project or issuer): a workflow or environment that tried to publish and
    may not, or a publisher configured wrong. Only tokens the issuer signed get this far."""
    for pairs in refused.values():
        publishers = [publisher for publisher, _ in pairs]
        audit_record(
            organization=publishers[0].repository.organization,
            action="trusted_publisher.refused",
            target=f"repository {publishers[0].repository.organization.slug}/"
            f"{publishers[0].repository.slug}",
            source_ip=source_ip,
            details={
                "publishers": [{"id": p.pk, "reason": reason} for p, reason in pairs],
                "claims": audited_claims(claims, publishers),
            },
        )


def _remember(issuer: str, token: str, claims: dict[str, Any]) -> None:
    """Record the token as used; refuse it if it already was (the row is unique)."""
    now = timezone.now()
    UsedIdentityToken.objects.filter(expires_at__lt=now).delete()
    jti = claims.get("jti")
    token_id = str(jti) if jti else "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    # Kept until the token expires (plus the leeway it would still be accepted within).
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    expires_at += timedelta(seconds=settings.OIDC_LEEWAY)
    try:
        with transaction.atomic():
            UsedIdentityToken.objects.create(
                issuer=issuer, token_id=token_id[:255], expires_at=expires_at
            )
    except IntegrityError as exc:
        raise TokenRefused(
            "invalid-token",
            "This token was already exchanged (its jti was seen): each identity token can be "
            "used once; request a new one.",
        ) from exc


def _record_github_ids(publishers: list[TrustedPublisher], claims: dict[str, Any]) -> None:
    """Remember the owner's and repository's immutable ids at first use, as PyPI does: from
    then on, a new account that takes the old name gets refused."""
    for publisher in publishers:
        if publisher.kind != PublisherKind.GITHUB:
            continue
        ids = {
            "owner_id": claims.get("repository_owner_id"),
            "ci_repository_id": claims.get("repository_id"),
        }
        changed = [n for n, v in ids.items() if v and not getattr(publisher, n)]
        for name in changed:
            setattr(publisher, name, str(ids[name]))
        if changed:
            publisher.save(update_fields=changed)


def trusted_token_mint(*, token: str, source_ip: str | None = None) -> MintedToken:
    """Exchange a CI identity token for an upload key, or raise TokenRefused saying why.

    The key covers every repository (of one organization) whose publisher the token matches,
    limited to the publishers' project when they have one."""
    issuer = unverified_issuer(token)
    audiences = _audiences(issuer)
    if not audiences:
        # Before any request to the issuer: only the issuers a publisher names are fetched.
        raise TokenRefused(
            "invalid-publisher",
            f"valid token, but no corresponding publisher (no trusted publisher is configured "
            f"for issuer {issuer})",
        )
    # Verified before anything else is looked up: what a token's claims name (which
    # repositories have publishers) is told only to holders of tokens the issuer signed.
    claims = verify_token(token, issuer=issuer, audiences=audiences)
    matched = _matching(_candidates(issuer, claims), claims, source_ip)
    organization = matched[0].repository.organization
    repositories = list({p.repository_id: p.repository for p in matched}.values())
    project = matched[0].project
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.OIDC_TOKEN_LIFETIME)
    with transaction.atomic():
        _remember(issuer, token, claims)
        _record_github_ids(matched, claims)
        TrustedPublisher.objects.filter(pk__in=[p.pk for p in matched]).update(last_used_at=now)
        minted = api_key_create(
            organization=organization,
            name=f"trusted publisher {', '.join(str(p.pk) for p in matched)}"[:100],
            scope=KeyScope.UPLOAD,
            repositories=repositories,
            expires_at=expires_at,
            upload_project=project,
            source_ip=source_ip,
        )
        audit_record(
            organization=organization,
            action="trusted_publisher.mint",
            target=f"key {minted.api_key.public_id}",
            source_ip=source_ip,
            details={
                "publishers": [{"id": p.pk, "publisher": p.describe()} for p in matched],
                "repositories": sorted(r.slug for r in repositories),
                "project": project,
                "expires_at": expires_at.isoformat(),
                "claims": audited_claims(claims, matched),
            },
        )
    return MintedToken(token=minted.token, api_key=minted.api_key, expires_at=expires_at)
