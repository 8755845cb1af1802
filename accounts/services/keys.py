"""API keys: issue, check (constant time, limits), revoke, rotate. Only an HMAC is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import Organization
from accounts.models import User
from accounts.network import ip_in_networks
from accounts.network import networks_within
from accounts.permissions import ROLE_KEY_SCOPES
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import RepositoryRef
from accounts.permissions import acting_user
from accounts.permissions import can
from accounts.permissions import key_repository_ids
from accounts.permissions import require
from accounts.permissions import role_of
from accounts.services.audit import audit_record
from accounts.signals import access_changed
from core.events import EventType

# Recognisable by secret scanners; the rest is a public id and a 256-bit secret.
API_KEY_PREFIX = "whk_"
PUBLIC_ID_LENGTH = 12
# last_used_at is a hint, not a log: one write per key per interval is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key_secret(secret: str) -> str:
    """HMAC-SHA-256 of a key's secret: fast, and useless without the server's pepper."""
    return hmac.new(settings.API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


def _new_public_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(PUBLIC_ID_LENGTH))


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    # The full key, to be shown once and never stored.
    token: str


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scope: str = KeyScope.READ,
    created_by: User | None = None,
    repositories: Iterable[RepositoryRef] | None = None,
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
    user: User | None = None,
    source_ip: str | None = None,
    upload_project: str = "",
    management_scopes: Iterable[str] = (),
    actor: Actor | None = None,
) -> NewApiKey:
    """Create a key and return it with its secret, which exists only in the return value.

    `repositories` None covers every repository of the organization, now and later; a
    collection limits the key to those, and must name at least one (an empty limit would be
    a key that works nowhere, or, as it once was, everywhere). `user` makes it a personal key
    that acts as that user. `upload_project` (a normalized name) limits its uploads to that
    project. `management_scopes` (ManagementScope values) add to `scope`. `actor` is who the
    audit names (default `created_by`). No permission check: callers that act for a person or
    a key use `api_key_issue`."""
    secret = secrets.token_urlsafe(32)
    all_repositories = repositories is None
    limited_to = [] if repositories is None else list(repositories)
    if not all_repositories and not limited_to:
        raise ValidationError(
            "A key limited to some repositories needs at least one repository; "
            "or let it cover all repositories."
        )
    if any(r.organization_id != organization.pk for r in limited_to):
        raise ValidationError("A key can only be limited to its own organization's repositories.")
    if expires_at is not None and expires_at <= timezone.now():
        # It would be refused from its first use: a mistake (a past date, a wrong time zone).
        raise ValidationError("A key's expiry must be in the future.")
    with transaction.atomic():
        api_key = ApiKey(
            organization=organization,
            name=name,
            public_id=_new_public_id(),
            secret_hash=hash_api_key_secret(secret),
            scope=scope,
            created_by=created_by,
            user=user,
            all_repositories=all_repositories,
            expires_at=expires_at,
            allowed_networks=[str(n).strip() for n in allowed_networks if str(n).strip()],
            upload_project=upload_project,
            management_scopes=list(management_scopes),
        )
        api_key.full_clean()
        api_key.save()
        api_key.repositories.set([r.pk for r in limited_to])
        audit_record(
            organization=organization,
            action="api_key.create",
            actor=actor or created_by,
            target=f"key {api_key.public_id}",
            source_ip=source_ip,
            details=_key_details(api_key, limited_to),
            event=EventType.KEY_CREATED,
            subject=_key_subject(api_key),
        )
    return NewApiKey(api_key=api_key, token=f"{API_KEY_PREFIX}{api_key.public_id}_{secret}")


def _key_subject(api_key: ApiKey) -> dict[str, str]:
    """What an event about a key names: its public id and name, never its secret."""
    return {"key": api_key.public_id, "key_name": api_key.name}


def _key_details(api_key: ApiKey, repositories: Iterable[RepositoryRef]) -> dict[str, Any]:
    return {
        "name": api_key.name,
        "scope": api_key.scope,
        **({"management_scopes": api_key.management_scopes} if api_key.management_scopes else {}),
        "personal": api_key.user_id is not None,
        "all_repositories": api_key.all_repositories,
        "repositories": sorted(r.slug for r in repositories),
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "allowed_networks": api_key.allowed_networks,
        **({"upload_project": api_key.upload_project} if api_key.upload_project else {}),
    }


def api_key_issue(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    scope: str,
    personal: bool,
    repositories: Iterable[RepositoryRef] | None = None,
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
    source_ip: str | None = None,
    management_scopes: Iterable[str] = (),
) -> NewApiKey:
    """A key made by a person or by a key. A person: an organization key needs manage_keys
    (and may hold any scope); a personal key needs only membership, and scopes the person's
    role could use. A key: manage:keys, and never more than it has itself (`key_bounds_check`);
    a personal key makes personal keys of its own user. `repositories` as in
    `api_key_create`: None is every repository."""
    management_scopes = sorted(set(management_scopes))
    networks = [str(n).strip() for n in allowed_networks if str(n).strip()]
    user = acting_user(actor)
    if isinstance(actor, ApiKey):
        require(actor, Action.MANAGE_KEYS, organization)
        if personal and user is None:
            raise ValidationError("An organization key has no user to make a personal key for.")
        repositories = None if repositories is None else list(repositories)
        key_bounds_check(
            parent=actor,
            scopes={scope, *management_scopes},
            repositories=repositories,
            expires_at=expires_at,
            allowed_networks=networks,
        )
    else:
        _person_may_issue(actor, organization, personal, {scope, *management_scopes})
    # Names are how people tell keys apart in lists and the audit log; only live keys count,
    # so a revoked key's name can be used again.
    if ApiKey.objects.filter(organization=organization, name=name, revoked_at=None).exists():
        raise ValidationError(
            {"name": f"A key named '{name}' already exists; choose another name or revoke it."}
        )
    return api_key_create(
        organization=organization,
        name=name,
        scope=scope,
        management_scopes=management_scopes,
        created_by=user,
        user=user if personal else None,
        repositories=repositories,
        expires_at=expires_at,
        allowed_networks=networks,
        source_ip=source_ip,
        # A key limited to one project's uploads passes its limit on.
        upload_project=actor.upload_project if isinstance(actor, ApiKey) else "",
        actor=actor,
    )


def _person_may_issue(
    actor: Actor, organization: Organization, personal: bool, scopes: set[str]
) -> None:
    role = role_of(actor, organization) if isinstance(actor, User) else None
    if role is None:
        raise PermissionDenied("You are not a member of this organization.")
    if not personal:
        require(actor, Action.MANAGE_KEYS, organization)
        return
    beyond = sorted(scopes - ROLE_KEY_SCOPES[role])
    if beyond:
        raise PermissionDenied(f"A {role} cannot create a key with the '{beyond[0]}' scope.")


def key_bounds_check(
    *,
    parent: ApiKey,
    scopes: set[str],
    repositories: Sequence[RepositoryRef] | None,
    expires_at: datetime | None,
    allowed_networks: list[str],
) -> None:
    """A key making (or rotating) a key hands out nothing it lacks: no scope it does not hold,
    no repository it does not cover, no later expiry, no wider networks. Else an upload key
    with manage:keys could mint itself anything, and a leaked key outlive its own expiry."""
    missing = sorted(scopes - parent.scopes)
    if missing:
        raise PermissionDenied(f"This API key lacks the {missing[0]} scope; it cannot grant it.")
    covered = key_repository_ids(parent)
    if covered is not None and (
        repositories is None or not {r.pk for r in repositories} <= covered
    ):
        raise PermissionDenied("This API key cannot grant repositories it does not cover.")
    if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
        raise PermissionDenied(
            f"This API key expires at {parent.expires_at.isoformat()}; "
            "a key it makes must expire no later."
        )
    if parent.allowed_networks and not networks_within(allowed_networks, parent.allowed_networks):
        raise PermissionDenied(
            "This API key is limited to some networks; a key it makes must be limited "
            "to networks inside them."
        )


def _may_manage_key(actor: Actor, api_key: ApiKey) -> bool:
    if isinstance(actor, User) and api_key.user_id is not None and api_key.user_id == actor.pk:
        # One's own personal key, while still a member.
        return role_of(actor, api_key.organization) is not None
    return can(actor, Action.MANAGE_KEYS, api_key.organization)


def _refuse_key_management(actor: Actor, api_key: ApiKey) -> None:
    # A key is told which scope it lacks; a person only that they may not.
    if isinstance(actor, ApiKey):
        require(actor, Action.MANAGE_KEYS, api_key.organization)
    raise PermissionDenied("You may not manage this key.")


def api_key_revoke(*, api_key: ApiKey, actor: Actor, source_ip: str | None = None) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing. A key with manage:keys may
    revoke any key it can see: taking access away widens nobody's."""
    if not _may_manage_key(actor, api_key):
        _refuse_key_management(actor, api_key)
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            # An UPDATE sends no signal: say so, or the key lives on in the hot path's cache.
            access_changed(organization_id=api_key.organization_id)
            audit_record(
                organization=api_key.organization,
                action="api_key.revoke",
                actor=actor,
                target=f"key {api_key.public_id}",
                source_ip=source_ip,
                details={"name": api_key.name},
                event=EventType.KEY_REVOKED,
                subject=_key_subject(api_key),
            )
    api_key.refresh_from_db()
    return api_key


def api_key_rotate(*, api_key: ApiKey, actor: Actor, source_ip: str | None = None) -> NewApiKey:
    """A new secret with the same settings; the old key is revoked in the same transaction.

    A limited key keeps the repositories it still has. One that has none left (all deleted)
    is refused rather than rotated: the new secret would work nowhere, and the error tells
    its manager to revoke it and make a key for the repositories that exist now. A key may
    rotate only a key with nothing more than it has: the new secret goes to its holder."""
    if not _may_manage_key(actor, api_key):
        _refuse_key_management(actor, api_key)
    user = acting_user(actor)
    if api_key.user_id is not None and (user is None or api_key.user_id != user.pk):
        # The new secret would let the rotator act as the key's user: only they may hold it.
        raise PermissionDenied("Only its own user can rotate a personal key; you can revoke it.")
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if old.revoked_at is not None:
            raise ValidationError("This key is revoked; create a new one instead.")
        if old.expires_at is not None and old.expires_at <= timezone.now():
            raise ValidationError("This key has expired; create a new one instead.")
        remaining = None if old.all_repositories else list(old.repositories.all())
        if remaining == []:
            raise ValidationError(
                "This key has no repositories left (they were deleted), so it is refused "
                "everywhere; revoke it and create a new key instead."
            )
        if isinstance(actor, ApiKey):
            key_bounds_check(
                parent=actor,
                scopes=set(old.scopes),
                repositories=remaining,
                expires_at=old.expires_at,
                allowed_networks=old.allowed_networks,
            )
        new = api_key_create(
            organization=old.organization,
            name=old.name,
            scope=old.scope,
            management_scopes=old.management_scopes,
            upload_project=old.upload_project,
            created_by=user,
            actor=actor,
            user=old.user,
            repositories=remaining,
            expires_at=old.expires_at,
            allowed_networks=old.allowed_networks,
            source_ip=source_ip,
        )
        old.revoked_at = timezone.now()
        old.save(update_fields=["revoked_at"])
        audit_record(
            organization=old.organization,
            action="api_key.rotate",
            actor=actor,
            target=f"key {old.public_id}",
            source_ip=source_ip,
            details={"name": old.name, "replaced_by": new.api_key.public_id},
            # Rotation revokes the old key (the new one was told as created above).
            event=EventType.KEY_REVOKED,
            subject={**_key_subject(old), "replaced_by": new.api_key.public_id},
        )
    return new


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a presented token: a key, or why there is none."""

    api_key: ApiKey | None
    # "malformed", "unknown", "bad secret", "revoked", "expired", "network", "user left", or "".
    failure: str = ""
    # The key the token named, when known, even if it failed: its organization gets the audit.
    named_key: ApiKey | None = None


def api_key_check(token: str, *, source_ip: str = "") -> KeyCheck:
    """Check a presented token: format, secret (constant time), revocation, expiry, network,
    and for personal keys, that the user is still a member."""
    token = token.strip()
    if not token.startswith(API_KEY_PREFIX):
        return KeyCheck(None, "malformed")
    public_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(public_id) != PUBLIC_ID_LENGTH or not secret:
        return KeyCheck(None, "malformed")
    api_key = (
        ApiKey.objects.select_related("organization", "user").filter(public_id=public_id).first()
    )
    if api_key is None:
        return KeyCheck(None, "unknown")
    failure = _key_failure(api_key, secret, source_ip)
    if failure:
        return KeyCheck(None, failure, named_key=api_key)
    api_key_used(api_key=api_key)
    return KeyCheck(api_key)


def _key_failure(api_key: ApiKey, secret: str, source_ip: str) -> str:
    if not hmac.compare_digest(api_key.secret_hash, hash_api_key_secret(secret)):
        return "bad secret"
    if api_key.revoked_at is not None:
        return "revoked"
    if api_key.expires_at and api_key.expires_at <= timezone.now():
        return "expired"
    if api_key.user is not None and role_of(api_key.user, api_key.organization) is None:
        return "user left"
    if api_key.allowed_networks and not ip_in_networks(source_ip, api_key.allowed_networks):
        return "network"
    return ""


def api_key_authenticate(token: str, *, source_ip: str = "") -> ApiKey | None:
    """The usable key a presented token belongs to, or None."""
    return api_key_check(token, source_ip=source_ip).api_key


def api_key_used(*, api_key: ApiKey) -> None:
    """Record that the key was used now, at most once per LAST_USED_RESOLUTION (a write)."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests within the interval write at most once between them.
    cutoff = now - LAST_USED_RESOLUTION
    ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=cutoff).update(last_used_at=now)
    api_key.last_used_at = now
