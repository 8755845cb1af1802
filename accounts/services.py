"""Writes for users, organizations, memberships, invitations and API keys, and the audit log.

Services that change an organization take the acting user and check `can()` themselves, so a
view, an API endpoint and a task cannot disagree about who may do what.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import KeyScope
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User
from accounts.network import ip_in_networks
from accounts.permissions import ROLE_KEY_SCOPES
from accounts.permissions import Action
from accounts.permissions import can
from accounts.permissions import forget_roles
from accounts.permissions import role_of

# Recognisable by secret scanners; the rest is a public id and a 256-bit secret.
API_KEY_PREFIX = "whk_"
PUBLIC_ID_LENGTH = 12
# last_used_at is a hint, not a log: one write per key per interval is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Audit ------------------------------------------------------------------------------------------


def _actor_fields(actor: object) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        user = actor.user if actor.user_id else None
        label = f"key {actor.public_id}" + (f" of {user.email}" if user else "")
        return {"actor_api_key": actor, "actor_user": user, "actor_label": label}
    if isinstance(actor, User):
        return {"actor_user": actor, "actor_label": actor.email}
    return {"actor_label": ""}


def audit_record(
    *,
    organization: Organization | None,
    action: str,
    actor: object = None,
    target: str = "",
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event. `actor` is a User, an ApiKey, or None for the system."""
    return AuditEvent.objects.create(
        organization=organization,
        action=action,
        target=target[:255],
        source_ip=source_ip or None,
        details=details or {},
        **_actor_fields(actor),
    )


def _require(actor: object, action: Action, organization: Organization) -> None:
    if not can(actor, action, organization):
        raise PermissionDenied(f"Your role does not allow this ({action.value}).")


# API keys ---------------------------------------------------------------------------------------


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
    repositories: Iterable[object] = (),
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
    user: User | None = None,
    source_ip: str | None = None,
) -> NewApiKey:
    """Create a key and return it with its secret, which exists only in the return value.

    `user` makes it a personal key that acts as that user. No permission check: callers that
    act for a person use `api_key_issue`."""
    secret = secrets.token_urlsafe(32)
    repositories = list(repositories)
    if any(getattr(r, "organization_id", None) != organization.pk for r in repositories):
        raise ValidationError("A key can only be limited to its own organization's repositories.")
    with transaction.atomic():
        api_key = ApiKey(
            organization=organization,
            name=name,
            public_id=_new_public_id(),
            secret_hash=hash_api_key_secret(secret),
            scope=scope,
            created_by=created_by,
            user=user,
            expires_at=expires_at,
            allowed_networks=[str(n).strip() for n in allowed_networks if str(n).strip()],
        )
        api_key.full_clean()
        api_key.save()
        api_key.repositories.set(repositories)
        audit_record(
            organization=organization,
            action="api_key.create",
            actor=created_by,
            target=f"key {api_key.public_id}",
            source_ip=source_ip,
            details=_key_details(api_key, repositories),
        )
    return NewApiKey(api_key=api_key, token=f"{API_KEY_PREFIX}{api_key.public_id}_{secret}")


def _key_details(api_key: ApiKey, repositories: Iterable[object]) -> dict[str, Any]:
    return {
        "name": api_key.name,
        "scope": api_key.scope,
        "personal": api_key.user_id is not None,
        "repositories": sorted(str(getattr(r, "slug", r)) for r in repositories),
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "allowed_networks": api_key.allowed_networks,
    }


def api_key_issue(
    *,
    actor: User,
    organization: Organization,
    name: str,
    scope: str,
    personal: bool,
    repositories: Iterable[object] = (),
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
    source_ip: str | None = None,
) -> NewApiKey:
    """A key made by a person: an organization key needs manage_keys; a personal key needs
    only membership, and a scope the person's role could use."""
    role = role_of(actor, organization)
    if role is None:
        raise PermissionDenied("You are not a member of this organization.")
    if not personal:
        _require(actor, Action.MANAGE_KEYS, organization)
    elif scope not in ROLE_KEY_SCOPES[role]:
        raise PermissionDenied(f"A {role} cannot create a key with the '{scope}' scope.")
    return api_key_create(
        organization=organization,
        name=name,
        scope=scope,
        created_by=actor,
        user=actor if personal else None,
        repositories=repositories,
        expires_at=expires_at,
        allowed_networks=allowed_networks,
        source_ip=source_ip,
    )


def _may_manage_key(actor: User, api_key: ApiKey) -> bool:
    own_personal = api_key.user_id is not None and api_key.user_id == actor.pk
    if own_personal and role_of(actor, api_key.organization) is not None:
        return True
    return can(actor, Action.MANAGE_KEYS, api_key.organization)


def api_key_revoke(*, api_key: ApiKey, actor: User, source_ip: str | None = None) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing."""
    if not _may_manage_key(actor, api_key):
        raise PermissionDenied("You may not manage this key.")
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            audit_record(
                organization=api_key.organization,
                action="api_key.revoke",
                actor=actor,
                target=f"key {api_key.public_id}",
                source_ip=source_ip,
                details={"name": api_key.name},
            )
    api_key.refresh_from_db()
    return api_key


def api_key_rotate(*, api_key: ApiKey, actor: User, source_ip: str | None = None) -> NewApiKey:
    """A new secret with the same settings; the old key is revoked in the same transaction."""
    if not _may_manage_key(actor, api_key):
        raise PermissionDenied("You may not manage this key.")
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if old.revoked_at is not None:
            raise ValidationError("This key is revoked; create a new one instead.")
        new = api_key_create(
            organization=old.organization,
            name=old.name,
            scope=old.scope,
            created_by=actor,
            user=old.user,
            repositories=list(old.repositories.all()),
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
    _touch_last_used(api_key, timezone.now())
    return KeyCheck(api_key)


def _key_failure(api_key: ApiKey, secret: str, source_ip: str) -> str:
    if not hmac.compare_digest(api_key.secret_hash, hash_api_key_secret(secret)):
        return "bad secret"
    if api_key.revoked_at is not None:
        return "revoked"
    if api_key.expires_at and api_key.expires_at <= timezone.now():
        return "expired"
    if api_key.user_id is not None and role_of(api_key.user, api_key.organization) is None:
        return "user left"
    if api_key.allowed_networks and not ip_in_networks(source_ip, api_key.allowed_networks):
        return "network"
    return ""


def api_key_authenticate(token: str, *, source_ip: str = "") -> ApiKey | None:
    """The usable key a presented token belongs to, or None."""
    return api_key_check(token, source_ip=source_ip).api_key


def _touch_last_used(api_key: ApiKey, now: datetime) -> None:
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests within the interval write at most once between them.
    cutoff = now - LAST_USED_RESOLUTION
    ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=cutoff).update(last_used_at=now)
    api_key.last_used_at = now


# Users ------------------------------------------------------------------------------------------


def user_get_or_create(*, email: str, password: str | None = None) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    return user


# Organizations ----------------------------------------------------------------------------------


@transaction.atomic
def organization_get_or_create(*, slug: str, name: str, owner: User) -> Organization:
    """The organization with this slug, created if new; `owner` joins it as an owner."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        organization = Organization(slug=slug, name=name)
        organization.full_clean()
        organization.save()
        audit_record(
            organization=organization,
            action="organization.create",
            target=f"organization {slug}",
            details={"name": name, "via": "provisioning"},
        )
    _, joined = Membership.objects.get_or_create(
        user=owner, organization=organization, defaults={"role": Role.OWNER}
    )
    if joined:
        audit_record(
            organization=organization,
            action="membership.add",
            target=f"user {owner.email}",
            details={"role": Role.OWNER, "via": "provisioning"},
        )
    return organization


@transaction.atomic
def organization_create(
    *, slug: str, name: str, creator: User, source_ip: str | None = None
) -> Organization:
    """A new organization; its creator becomes its first owner."""
    organization = Organization(slug=slug, name=name or slug)
    organization.full_clean()
    organization.save()
    Membership.objects.create(user=creator, organization=organization, role=Role.OWNER)
    forget_roles(creator)
    audit_record(
        organization=organization,
        action="organization.create",
        actor=creator,
        target=f"organization {slug}",
        source_ip=source_ip,
        details={"name": organization.name},
    )
    return organization


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    actor: User,
    name: str,
    slug: str,
    source_ip: str | None = None,
) -> Organization:
    """Rename an organization (display name and slug; the slug is in every index URL)."""
    _require(actor, Action.MANAGE_SETTINGS, organization)
    before = {"name": organization.name, "slug": organization.slug}
    organization.name = name
    organization.slug = slug
    organization.full_clean()
    organization.save(update_fields=["name", "slug"])
    audit_record(
        organization=organization,
        action="organization.update",
        actor=actor,
        target=f"organization {organization.slug}",
        source_ip=source_ip,
        details={"before": before, "after": {"name": name, "slug": slug}},
    )
    return organization


def organization_delete(
    *, organization: Organization, actor: User, confirm_slug: str, source_ip: str | None = None
) -> None:
    """Delete an organization and everything in it; its stored files go after the commit."""
    from registry.services import stored_files_delete_on_commit
    from registry.services import stored_keys_for

    _require(actor, Action.DELETE_ORGANIZATION, organization)
    if confirm_slug != organization.slug:
        raise ValidationError("Type the organization's slug exactly to confirm deletion.")
    with transaction.atomic():
        keys = stored_keys_for(organization=organization)
        audit_record(
            organization=None,
            action="organization.delete",
            actor=actor,
            target=f"organization {organization.slug}",
            source_ip=source_ip,
            details={"organization": organization.slug, "stored_objects": len(keys)},
        )
        organization.delete()
        stored_files_delete_on_commit(keys)
    forget_roles(actor)


# Memberships ------------------------------------------------------------------------------------


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _check_member_change(actor: User, membership: Membership, new_role: str | None) -> None:
    organization = membership.organization
    _require(actor, Action.MANAGE_MEMBERS, organization)
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner:
        _require(actor, Action.MANAGE_OWNERS, organization)
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        # Locked so two owners demoting each other at once cannot both succeed.
        owners = Membership.objects.select_for_update().filter(
            organization=organization, role=Role.OWNER
        )
        if len(owners) <= 1:
            raise ValidationError("An organization must keep at least one owner.")


def membership_set_role(
    *, membership: Membership, role: str, actor: User, source_ip: str | None = None
) -> Membership:
    """Change a member's role; only owners touch the owner role, and one owner always stays."""
    if role not in Role.values:
        raise ValidationError(f"'{role}' is not a role.")
    with transaction.atomic():
        _check_member_change(actor, membership, role)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            organization=membership.organization,
            action="membership.role_change",
            actor=actor,
            target=f"user {membership.user.email}",
            source_ip=source_ip,
            details={"before": before, "after": role},
        )
    forget_roles(membership.user)
    forget_roles(actor)
    return membership


def membership_remove(*, membership: Membership, actor: User, source_ip: str | None = None) -> None:
    """Remove a member (or let members leave); their personal keys stop working at once."""
    leaving = membership.user_id == actor.pk
    with transaction.atomic():
        if leaving:
            if membership.role == Role.OWNER and _owner_count(membership.organization) <= 1:
                raise ValidationError("An organization must keep at least one owner.")
        else:
            _check_member_change(actor, membership, None)
        membership.delete()
        audit_record(
            organization=membership.organization,
            action="membership.leave" if leaving else "membership.remove",
            actor=actor,
            target=f"user {membership.user.email}",
            source_ip=source_ip,
            details={"role": membership.role},
        )
    forget_roles(membership.user)
    forget_roles(actor)


# Invitations ------------------------------------------------------------------------------------


def _hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    url: str


def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: str,
    actor: User,
    base_url: str,
    source_ip: str | None = None,
) -> NewInvitation:
    """Email a link that lets `email` join with `role` until it expires."""
    _require(actor, Action.MANAGE_MEMBERS, organization)
    if role == Role.OWNER:
        _require(actor, Action.MANAGE_OWNERS, organization)
    email = User.objects.normalize_email(email).lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member.")
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=settings.INVITATION_LIFETIME_SECONDS)
    with transaction.atomic():
        invitation = Invitation(
            organization=organization,
            email=email,
            role=role,
            token_hash=_hash_invitation_token(token),
            invited_by=actor,
            expires_at=timezone.now() + lifetime,
        )
        invitation.full_clean()
        invitation.save()
        audit_record(
            organization=organization,
            action="invitation.create",
            actor=actor,
            target=f"user {email}",
            source_ip=source_ip,
            details={"role": role, "expires_at": invitation.expires_at.isoformat()},
        )
    url = base_url.rstrip("/") + reverse("invitation-accept", kwargs={"token": token})
    _send_invitation(invitation, url)
    return NewInvitation(invitation=invitation, url=url)


def _send_invitation(invitation: Invitation, url: str) -> None:
    context = {"invitation": invitation, "url": url}
    body = render_to_string("accounts/email/invitation.txt", context)
    subject = f"Join {invitation.organization.name} on Wheelhouse"
    # After commit: an email must never announce an invitation that was rolled back.
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    )


def invitation_find(*, token: str) -> Invitation | None:
    """The pending invitation a link token belongs to (expired ones included), or None."""
    return (
        Invitation.objects.select_related("organization")
        .filter(token_hash=_hash_invitation_token(token), accepted_at__isnull=True)
        .first()
    )


def invitation_accept(
    *, invitation: Invitation, user: User, source_ip: str | None = None
) -> Membership:
    """Join the organization with the invited role; the link works once and only in time."""
    if invitation.is_expired:
        raise ValidationError("This invitation has expired; ask for a new one.", code="expired")
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied(f"This invitation was sent to {invitation.email}.")
    with transaction.atomic():
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not claimed:
            raise ValidationError("This invitation was already used.", code="used")
        membership, created = Membership.objects.get_or_create(
            user=user, organization=invitation.organization, defaults={"role": invitation.role}
        )
        audit_record(
            organization=invitation.organization,
            action="membership.join",
            actor=user,
            target=f"user {user.email}",
            source_ip=source_ip,
            details={"role": membership.role, "already_member": not created},
        )
    forget_roles(user)
    return membership


def invitation_revoke(*, invitation: Invitation, actor: User, source_ip: str | None = None) -> None:
    _require(actor, Action.MANAGE_MEMBERS, invitation.organization)
    with transaction.atomic():
        invitation.delete()
        audit_record(
            organization=invitation.organization,
            action="invitation.revoke",
            actor=actor,
            target=f"user {invitation.email}",
            source_ip=source_ip,
        )
