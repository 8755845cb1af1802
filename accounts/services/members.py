"""Memberships and invitations; an organization always keeps an owner."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import acting_user
from accounts.permissions import forget_roles
from accounts.permissions import require
from accounts.permissions import require_role_grant
from accounts.services.audit import audit_record
from core.events import EventType

# Memberships ------------------------------------------------------------------------------------


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _check_member_change(actor: Actor, membership: Membership, new_role: str | None) -> None:
    organization = membership.organization
    require(actor, Action.MANAGE_MEMBERS, organization)
    if new_role is not None:
        require_role_grant(actor, new_role)
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner:
        require(actor, Action.MANAGE_OWNERS, organization)
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        # Locked so two owners demoting each other at once cannot both succeed.
        owners = Membership.objects.select_for_update().filter(
            organization=organization, role=Role.OWNER
        )
        if len(owners) <= 1:
            raise ValidationError("An organization must keep at least one owner.")


def membership_set_role(
    *, membership: Membership, role: str, actor: Actor, source_ip: str | None = None
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


def membership_remove(
    *, membership: Membership, actor: Actor, source_ip: str | None = None
) -> None:
    """Remove a member (or let members leave); their personal keys stop working at once."""
    # Only a person leaves; a key removing its own user needs manage:members like any other.
    leaving = isinstance(actor, User) and membership.user_id == actor.pk
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
            event=EventType.MEMBER_REMOVED,
            subject={"member": membership.user.email, "role": membership.role},
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
    actor: Actor,
    base_url: str,
    source_ip: str | None = None,
) -> NewInvitation:
    """Email a link that lets `email` join with `role` until it expires."""
    require(actor, Action.MANAGE_MEMBERS, organization)
    if role == Role.OWNER:
        require(actor, Action.MANAGE_OWNERS, organization)
    require_role_grant(actor, role)
    email = User.objects.normalize_email(email).lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member.")
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=settings.INVITATION_LIFETIME_SECONDS)
    with transaction.atomic():
        # One live invitation per address: inviting again replaces the earlier one (its role
        # and its link), so no second link can still grant a role nobody meant any more.
        replaced, _ = Invitation.objects.filter(
            organization=organization, email__iexact=email, accepted_at__isnull=True
        ).delete()
        invitation = Invitation(
            organization=organization,
            email=email,
            role=role,
            token_hash=_hash_invitation_token(token),
            invited_by=acting_user(actor),
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
            details={
                "role": role,
                "expires_at": invitation.expires_at.isoformat(),
                "replaced": replaced,
            },
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
        # Any other link sent to this address for this organization dies with this one.
        Invitation.objects.filter(
            organization=invitation.organization,
            email__iexact=invitation.email,
            accepted_at__isnull=True,
        ).delete()
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
            # Someone already a member joined nobody new.
            event=EventType.MEMBER_ADDED if created else None,
            subject={"member": user.email, "role": membership.role},
        )
    forget_roles(user)
    return membership


def invitation_revoke(
    *, invitation: Invitation, actor: Actor, source_ip: str | None = None
) -> None:
    require(actor, Action.MANAGE_MEMBERS, invitation.organization)
    with transaction.atomic():
        invitation.delete()
        audit_record(
            organization=invitation.organization,
            action="invitation.revoke",
            actor=actor,
            target=f"user {invitation.email}",
            source_ip=source_ip,
        )
