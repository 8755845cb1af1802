"""One call that sets up a tenant end to end: used by `provision` and by `serve`'s demo."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import KeyScope
from accounts.models import Organization
from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_get_or_create
from accounts.services import user_get_or_create
from registry import selectors
from registry.links import repository_urls
from registry.links import url_with_credentials
from registry.links import url_without_credentials
from registry.models import Repository
from registry.models import RepositoryKind
from registry.models import UpstreamOverride
from registry.names import normalize_name
from registry.services import PROXY_SETTINGS
from registry.services import VIRTUAL_SETTINGS
from registry.services import repository_create
from registry.services import repository_get_or_create
from registry.services import repository_update
from registry.services import upstream_override_set


@transaction.atomic
def tenant_provision(
    *,
    org_slug: str,
    repo_slug: str,
    email: str,
    base_url: str,
    org_name: str = "",
    key_name: str = "provisioned",
    scope: str = KeyScope.UPLOAD,
    kind: str = RepositoryKind.HOSTED,
    settings: dict[str, Any] | None = None,
    allow_upstream: Sequence[str] = (),
) -> dict[str, Any]:
    """Ensure the organization, repository and user exist, and mint a new API key.

    Safe to run again: existing objects are reused, and each run returns a fresh key. The
    index URL printed with credentials in it carries a read-only key, never an upload key:
    a URL gets pasted into browsers, and a browser keeps what it was given.

    A proxy or virtual repository (`kind`) is created with `settings` (registry.services'
    PROXY_SETTINGS or VIRTUAL_SETTINGS), by the provisioned user, audited; on a later run the
    settings passed that differ are updated, and a repository of another kind is an error.
    `allow_upstream` names projects whose upstream versions a virtual repository lists beside
    its hosted ones (UpstreamOverride).
    """
    user = user_get_or_create(email=email)
    organization = organization_get_or_create(slug=org_slug, name=org_name or org_slug, owner=user)
    repository = _repository_provision(
        organization=organization,
        slug=repo_slug,
        actor=user,
        kind=kind,
        settings=settings or {},
    )
    _upstream_allow(repository=repository, actor=user, names=allow_upstream)
    new_key = api_key_create(organization=organization, name=key_name, scope=scope, created_by=user)
    install_key = new_key
    if new_key.api_key.can_upload:
        install_key = api_key_create(
            organization=organization,
            name=f"{key_name} (install)",
            scope=KeyScope.READ,
            created_by=user,
        )
    urls = repository_urls(repository, base_url=base_url)
    return {
        "organization": organization.slug,
        "repository": repository.slug,
        **_kind_summary(repository),
        "user": user.email,
        "api_key": {
            "name": new_key.api_key.name,
            "public_id": new_key.api_key.public_id,
            "scope": new_key.api_key.scope,
            "token": new_key.token,
        },
        **urls,
        "install_key": {"public_id": install_key.api_key.public_id, "token": install_key.token},
        "pip_index_url": url_with_credentials(urls["index_url"], install_key.token),
    }


def _repository_provision(
    *,
    organization: Organization,
    slug: str,
    actor: User,
    kind: str,
    settings: dict[str, Any],
) -> Repository:
    if kind not in RepositoryKind.values:
        raise ValidationError(
            {"kind": f"Unknown kind '{kind}'; use one of {', '.join(RepositoryKind.values)}."}
        )
    allowed = {RepositoryKind.PROXY: PROXY_SETTINGS, RepositoryKind.VIRTUAL: VIRTUAL_SETTINGS}
    extra = sorted(set(settings) - set(allowed.get(RepositoryKind(kind), ())))
    if extra:
        raise ValidationError(
            f"A {kind} repository has no {', '.join(repr(name) for name in extra)} setting."
        )
    repository = Repository.objects.filter(organization=organization, slug=slug).first()
    if repository is None:
        if kind == RepositoryKind.HOSTED:
            return repository_get_or_create(organization=organization, slug=slug)
        return repository_create(
            organization=organization, actor=actor, slug=slug, kind=kind, **settings
        )
    if repository.kind != kind:
        raise ValidationError(
            f"Repository '{organization.slug}/{slug}' exists and is {repository.kind}, "
            f"not {kind}; a repository's kind never changes."
        )
    changed = {
        name: value for name, value in settings.items() if value != _current(repository, name)
    }
    if changed:
        repository = repository_update(repository=repository, actor=actor, **changed)
    return repository


def _current(repository: Repository, name: str) -> Any:
    """A setting as provisioning passes it, to tell whether a run changes anything."""
    if name == "members":
        return [m.slug for m in selectors.virtual_members(repository=repository)]
    if name == "upload_target":
        target = repository.upload_target
        return target.slug if target is not None else None
    return getattr(repository, name)


def _upstream_allow(*, repository: Repository, actor: User, names: Sequence[str]) -> None:
    if names and repository.kind != RepositoryKind.VIRTUAL:
        raise ValidationError(
            f"'{repository.slug}' is {repository.kind}; only a virtual repository lists "
            "upstream versions of its private names (--allow-upstream)."
        )
    for name in names:
        exists = UpstreamOverride.objects.filter(
            repository=repository, normalized_name=normalize_name(name)
        ).exists()
        if not exists:
            upstream_override_set(
                repository=repository,
                actor=actor,
                name=name,
                allowed=True,
                reason="provisioned",
            )


def _kind_summary(repository: Repository) -> dict[str, Any]:
    """What the printed result says about the repository's kind (never a password)."""
    summary: dict[str, Any] = {"kind": repository.kind}
    if repository.kind == RepositoryKind.PROXY:
        snapshot: datetime | None = repository.snapshot_at
        summary["proxy"] = {
            "upstream_url": url_without_credentials(repository.upstream_url),
            "upstream_username": repository.upstream_username,
            "cache_ttl": repository.cache_ttl,
            "cooldown_days": repository.cooldown_days,
            "snapshot_at": snapshot.isoformat() if snapshot else None,
        }
    elif repository.kind == RepositoryKind.VIRTUAL:
        target = repository.upload_target
        summary["virtual"] = {
            "members": [m.slug for m in selectors.virtual_members(repository=repository)],
            "upload_target": target.slug if target is not None else None,
            "allow_upstream": sorted(
                UpstreamOverride.objects.filter(repository=repository).values_list(
                    "normalized_name", flat=True
                )
            ),
        }
    return summary
