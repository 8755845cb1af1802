"""Reads for the dashboard, each scoped to what the asking user may see."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.db.models import Q
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import can
from accounts.permissions import role_of


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__slug")
    )


def organization_for_member(*, user: User, slug: str, action: Action = Action.READ) -> Organization:
    """The organization if `user` belongs to it, else 404 (foreign looks exactly like missing);
    403 if the user's role does not allow `action`."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None or role_of(user, organization) is None:
        raise Http404("Organization not found.")
    if not can(user, action, organization):
        raise PermissionDenied("Your role does not allow this.")
    return organization


def members_of(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    )


def pending_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization, accepted_at__isnull=True).order_by(
        "-created_at"
    )


def api_keys_visible(*, organization: Organization, user: User) -> QuerySet[ApiKey]:
    """Key managers see every key; everyone else sees only their own personal keys."""
    keys = ApiKey.objects.filter(organization=organization).select_related("user", "created_by")
    if not can(user, Action.MANAGE_KEYS, organization):
        keys = keys.filter(user=user)
    # Active keys first, newest first; revoked ones after them.
    active_first = F("revoked_at").asc(nulls_first=True)
    return keys.prefetch_related("repositories").order_by(active_first, "-created_at")


def api_key_for_member(*, organization: Organization, user: User, public_id: str) -> ApiKey:
    """A key the user can see, or 404."""
    key = api_keys_visible(organization=organization, user=user).filter(public_id=public_id)
    found = key.first()
    if found is None:
        raise Http404("API key not found.")
    return found


def audit_events(*, organization: Organization, actor: object) -> QuerySet[AuditEvent]:
    """The organization's audit log, newest first; owners and admins only."""
    if not can(actor, Action.VIEW_AUDIT, organization):
        raise PermissionDenied("Only owners and admins can read the audit log.")
    return AuditEvent.objects.filter(Q(organization=organization)).order_by("-created_at", "-pk")


# For the REST API, whose caller is a user or an API key ----------------------------------------


def organizations_visible(*, actor: object) -> QuerySet[Organization]:
    """A user's organizations, or the one organization a key belongs to."""
    if isinstance(actor, ApiKey):
        return Organization.objects.filter(pk=actor.organization_id).order_by("slug")
    return Organization.objects.filter(memberships__user=actor).order_by("slug")


def organization_visible(*, actor: object, slug: str) -> Organization:
    """The organization if the actor belongs to it, else 404: foreign looks exactly like missing."""
    organization = organizations_visible(actor=actor).filter(slug=slug).first()
    if organization is None:
        raise Http404(f"Organization '{slug}' not found.")
    return organization


def member_get(*, organization: Organization, email: str) -> Membership:
    membership = members_of(organization=organization).filter(user__email__iexact=email).first()
    if membership is None:
        raise Http404(f"No member '{email}' in this organization.")
    return membership


def pending_invitations_for(*, organization: Organization, email: str) -> list[Invitation]:
    found = list(pending_invitations(organization=organization).filter(email__iexact=email))
    if not found:
        raise Http404(f"No pending invitation for '{email}'.")
    return found


def audit_events_filtered(
    *,
    organization: Organization,
    actor: object,
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
