"""Reads of tenant data, each through the actor asking: a user, by role, or an API key, by its
organization and limits. What the actor may not see raises NotFound, exactly as what does not
exist; what it may see but not do raises PermissionDenied.

The dashboard, the REST API, the index and uploads all find organizations here.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import OrganizationSlugAlias
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import can
from accounts.permissions import remember_role
from accounts.permissions import require
from core.errors import NotFound
from core.errors import Renamed

# Organizations ----------------------------------------------------------------------------------


def organizations_for(*, actor: Actor) -> QuerySet[Organization]:
    """A user's organizations, or the one organization a key belongs to.

    A user's come with `viewer_role`, the user's role in each (read from the membership the
    query joins anyway), so listing roles takes no query per organization."""
    if isinstance(actor, ApiKey):
        return Organization.objects.filter(pk=actor.organization_id).order_by("slug")
    if not isinstance(actor, User):
        return Organization.objects.none()
    return (
        Organization.objects.filter(memberships__user=actor)
        .annotate(viewer_role=F("memberships__role"))
        .order_by("slug")
    )


def organization_for(
    *, actor: Actor, slug: str, action: Action = Action.READ, follow_renames: bool = False
) -> Organization:
    """The organization if the actor belongs to it, else NotFound (foreign looks exactly like
    missing); PermissionDenied if the actor's role or scope does not allow `action`.

    A former slug of the organization (OrganizationSlugAlias, not expired) finds it too, only
    after the current slugs missed, so the usual lookup costs nothing more: installers
    (`follow_renames`) get the organization, whose `alias_until` says until when the old slug
    answers; pages for people get Renamed, to redirect to the current URL."""
    now = timezone.now()
    alias_until = None
    if isinstance(actor, User) and actor.is_active:
        # One query finds the organization and the role, which `can` then reads from memory.
        membership = (
            Membership.objects.select_related("organization")
            .filter(user=actor, organization__slug=slug)
            .first()
        )
        if membership is None:
            membership = (
                Membership.objects.select_related("organization")
                .filter(
                    user=actor,
                    organization__slug_aliases__slug=slug,
                    organization__slug_aliases__expires_at__gt=now,
                )
                .annotate(alias_until=F("organization__slug_aliases__expires_at"))
                .first()
            )
            alias_until = getattr(membership, "alias_until", None)
        organization = membership.organization if membership else None
        if organization is not None and membership is not None:
            remember_role(actor, organization, membership.role)
    elif isinstance(actor, ApiKey):
        # Authentication loaded the key with its organization: no query needed.
        organization = actor.organization if actor.organization.slug == slug else None
        if organization is None:
            # Only the key's own organization's former slugs: another's looks missing.
            alias_until = (
                OrganizationSlugAlias.objects.filter(
                    slug=slug, organization_id=actor.organization_id, expires_at__gt=now
                )
                .values_list("expires_at", flat=True)
                .first()
            )
            organization = actor.organization if alias_until is not None else None
    else:
        organization = None
    if organization is None:
        raise NotFound(f"Organization '{slug}' not found.")
    organization.alias_until = alias_until  # type: ignore[attr-defined]
    if alias_until is not None and not follow_renames:
        raise Renamed(
            f"Organization '{slug}' is now '{organization.slug}'.",
            slugs={"org": organization.slug},
        )
    if action != Action.READ:
        require(actor, action, organization)
    return organization


def former_slugs_of(*, organization: Organization) -> QuerySet[OrganizationSlugAlias]:
    """The organization's former slugs that still answer, soonest to stop first."""
    return OrganizationSlugAlias.objects.filter(
        organization=organization, expires_at__gt=timezone.now()
    ).order_by("expires_at", "slug")


def alias_until(found: object) -> datetime | None:
    """When the former slug an organization or repository was found by stops answering;
    None when it was found by its current slug."""
    until: datetime | None = getattr(found, "alias_until", None)
    return until


# Members and invitations ------------------------------------------------------------------------


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__slug")
    )


def members_of(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__email", "pk")
    )


def members_for(*, actor: Actor, organization: Organization) -> QuerySet[Membership]:
    """The members (with their emails) the actor may list: people see them, and so do keys
    that cover every repository (they act for the whole organization). A key limited to some
    repositories is there for those repositories' packages; who belongs to the organization is
    none of its business (review L5)."""
    if isinstance(actor, ApiKey) and not actor.all_repositories:
        raise PermissionDenied("A key limited to some repositories cannot read the members.")
    return members_of(organization=organization)


def member_by_email(*, actor: Actor, organization: Organization, email: str) -> Membership:
    members = members_for(actor=actor, organization=organization)
    membership = members.filter(user__email__iexact=email).first()
    if membership is None:
        raise NotFound(f"No member '{email}' in this organization.")
    return membership


def member_by_id(*, organization: Organization, membership_id: int) -> Membership:
    membership = members_of(organization=organization).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def pending_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(organization=organization, accepted_at__isnull=True)
        .select_related("organization", "invited_by")
        .order_by("-created_at", "-pk")
    )


def pending_invitations_to(*, organization: Organization, email: str) -> list[Invitation]:
    found = list(pending_invitations(organization=organization).filter(email__iexact=email))
    if not found:
        raise NotFound(f"No pending invitation for '{email}'.")
    return found


def pending_invitation_by_id(*, organization: Organization, invitation_id: int) -> Invitation:
    invitation = pending_invitations(organization=organization).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


# API keys ---------------------------------------------------------------------------------------


def api_keys_for(*, actor: Actor, organization: Organization) -> QuerySet[ApiKey]:
    """Key managers (people, or keys with manage:keys) see every key; other people only their
    own personal keys; other keys only themselves. Active keys first, newest first; revoked
    ones after them."""
    keys = ApiKey.objects.filter(organization=organization)
    if not can(actor, Action.MANAGE_KEYS, organization):
        if isinstance(actor, ApiKey):
            keys = keys.filter(pk=actor.pk)
        else:
            keys = keys.filter(user=actor) if isinstance(actor, User) else keys.none()
    active_first = F("revoked_at").asc(nulls_first=True)
    return (
        keys.select_related("organization", "user", "created_by")
        .prefetch_related("repositories")
        .order_by(active_first, "-created_at", "pk")
    )


def api_key_for(*, actor: Actor, organization: Organization, public_id: str) -> ApiKey:
    """A key the actor can see, or NotFound."""
    found = api_keys_for(actor=actor, organization=organization).filter(public_id=public_id)
    api_key = found.first()
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key


# Audit ------------------------------------------------------------------------------------------


def audit_events(*, organization: Organization, actor: Actor) -> QuerySet[AuditEvent]:
    """The organization's audit log, newest first; owners and admins only."""
    if not can(actor, Action.VIEW_AUDIT, organization):
        raise PermissionDenied("Only owners and admins can read the audit log.")
    return AuditEvent.objects.filter(organization=organization).order_by("-created_at", "-pk")


def audit_events_filtered(
    *,
    organization: Organization,
    actor: Actor,
    by: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The audit log narrowed by who acted (email or key id, substring), action (exact, or a
    prefix ending in '.'), and a half-open time range [since, until)."""
    events = audit_events(organization=organization, actor=actor)
    if by:
        events = events.filter(actor_label__icontains=by)
    if action:
        key = "action__startswith" if action.endswith(".") else "action"
        events = events.filter(**{key: action})
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events


def audit_actions(*, organization: Organization) -> list[str]:
    """The distinct actions recorded for the organization, for the filter's choices."""
    rows = AuditEvent.objects.filter(organization=organization).values_list("action", flat=True)
    return sorted(set(rows.distinct()))
