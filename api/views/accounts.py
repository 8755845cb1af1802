"""The caller, organizations, members, invitations, API keys, audit log and usage."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts import services
from accounts.models import ApiKey
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import require
from accounts.permissions import role_of
from api import serializers as s
from api.permissions import require_person
from api.views.base import ApiView
from api.views.base import needs
from core.errors import NotFound
from registry import selectors
from registry import services as registry_services

NO_BODY = {204: None}


class CurrentUserView(ApiView):
    serializer_class = s.CurrentUserSerializer

    @extend_schema(summary="Who you are: your user, the key you used, your organizations")
    def get(self, request: Request) -> Response:
        actor = self.actor
        key = actor if isinstance(actor, ApiKey) else None
        user = key.user if key is not None else request.user
        user = user if isinstance(user, User) else None
        organizations = [
            {"slug": o.slug, "name": o.name, "role": _role(user, o) if user else None}
            for o in account_selectors.organizations_for(actor=actor)
        ]
        data = {
            "email": user.email if user else None,
            "name": user.name if user else "",
            "api_key": key,
            "organizations": organizations,
        }
        return self.one(data, s.CurrentUserSerializer)


def _role(user: User | AnonymousUser, organization: Organization) -> str | None:
    """The user's role: as organizations_for(actor=user) annotated it (no query per
    organization), else role_of (one query per organization, remembered for the request)."""
    role: str | None = getattr(organization, "viewer_role", None)
    return role if role is not None else role_of(user, organization)


def _roles(actor: Actor, organizations: Iterable[Organization]) -> dict[int, str | None]:
    if isinstance(actor, ApiKey):
        return {}
    return {o.pk: _role(actor, o) for o in organizations}


class OrganizationListView(ApiView):
    serializer_class = s.OrganizationSerializer
    # A key belongs to one organization: making another is a person's act.
    required_actions = needs(POST=None)

    @extend_schema(
        summary="Your organizations (a key: its own)", responses=s.OrganizationSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        organizations = account_selectors.organizations_for(actor=self.actor)
        page = self.paginate_queryset(organizations) or []
        data = s.OrganizationSerializer(
            page, many=True, context={"roles": _roles(self.actor, page)}
        ).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Create an organization; you become its owner",
        responses={201: s.OrganizationSerializer},
    )
    def post(self, request: Request) -> Response:
        person = require_person(self.actor, "create organizations")
        body = s.OrganizationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        organization = services.organization_create(
            slug=body.validated_data["slug"],
            name=body.validated_data["name"],
            creator=person,
            source_ip=self.source_ip,
        )
        roles = _roles(self.actor, [organization])
        return self.one(organization, s.OrganizationSerializer, 201, roles=roles)


class OrganizationView(ApiView):
    serializer_class = s.OrganizationSerializer
    required_actions = needs(PATCH=Action.MANAGE_SETTINGS, DELETE=Action.DELETE_ORGANIZATION)

    @extend_schema(summary="One organization")
    def get(self, request: Request, org: str) -> Response:
        organization = self.organization
        return self.one(
            organization, s.OrganizationSerializer, roles=_roles(self.actor, [organization])
        )

    @extend_schema(
        summary="Rename (owners, admins)",
        description="The former slug keeps answering (installers get the same content, people "
        "are redirected) until `former_slugs[].answers_until`; a new organization taking it, "
        "or renaming back, ends that sooner.",
        request=s.OrganizationUpdateSerializer,
        responses=s.RenamedOrganizationSerializer,
    )
    def patch(self, request: Request, org: str) -> Response:
        organization = self.organization
        person = require_person(self.actor, "change organizations")
        body = s.OrganizationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        organization = services.organization_update(
            organization=organization,
            actor=person,
            name=body.validated_data.get("name", organization.name),
            slug=body.validated_data.get("slug", organization.slug),
            source_ip=self.source_ip,
        )
        former = account_selectors.former_slugs_of(organization=organization)
        organization.former_slug_list = list(former)  # type: ignore[attr-defined]
        return self.one(
            organization, s.RenamedOrganizationSerializer, roles=_roles(self.actor, [organization])
        )

    @extend_schema(summary="Delete with everything in it (owners)", responses=NO_BODY)
    def delete(self, request: Request, org: str) -> Response:
        organization = self.organization
        person = require_person(self.actor, "delete organizations")
        registry_services.organization_delete(
            organization=organization,
            actor=person,
            confirm_slug=organization.slug,
            source_ip=self.source_ip,
        )
        return Response(status=204)


class UsageView(ApiView):
    serializer_class = s.UsageSerializer

    @extend_schema(
        summary="What the organization occupies",
        description="Stored bytes and counts. Download figures are at `/orgs/{org}/downloads/`.",
    )
    def get(self, request: Request, org: str) -> Response:
        usage = selectors.usage_for(actor=self.actor, organization=self.organization)
        return self.one(usage, s.UsageSerializer)


class AuditFilter(drf.Serializer):
    actor = drf.CharField(required=False, help_text="Email or key id (substring).")
    action = drf.CharField(
        required=False, help_text="Exact action, or a prefix ending in '.' (e.g. 'api_key.')."
    )
    since = drf.DateTimeField(required=False, help_text="From this time (inclusive).")
    until = drf.DateTimeField(required=False, help_text="Before this time.")


class AuditView(ApiView):
    serializer_class = s.AuditEventSerializer
    required_actions = needs(GET=Action.VIEW_AUDIT)

    @extend_schema(
        summary="The audit log, newest first (owners, admins)",
        responses=s.AuditEventSerializer(many=True),
        parameters=[AuditFilter],
    )
    def get(self, request: Request, org: str) -> Response:
        organization = self.organization
        query = AuditFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = account_selectors.audit_events_filtered(
            organization=organization,
            actor=self.actor,
            by=query.validated_data.get("actor", ""),
            action=query.validated_data.get("action", ""),
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
        )
        return self.paged(events, s.AuditEventSerializer)


# Members and invitations ------------------------------------------------------------------------


class MemberListView(ApiView):
    serializer_class = s.MemberSerializer

    @extend_schema(summary="Members and their roles", responses=s.MemberSerializer(many=True))
    def get(self, request: Request, org: str) -> Response:
        members = account_selectors.members_for(actor=self.actor, organization=self.organization)
        return self.paged(members.order_by("user__email", "pk"), s.MemberSerializer)


class MemberView(ApiView):
    serializer_class = s.MemberSerializer
    required_actions = needs(PATCH=Action.MANAGE_MEMBERS, DELETE=Action.MANAGE_MEMBERS)

    def membership(self) -> Membership:
        return account_selectors.member_by_email(
            actor=self.actor, organization=self.organization, email=self.kwargs["email"]
        )

    @extend_schema(summary="One member")
    def get(self, request: Request, org: str, email: str) -> Response:
        return self.one(self.membership(), s.MemberSerializer)

    @extend_schema(summary="Change a member's role", request=s.MemberRoleSerializer)
    def patch(self, request: Request, org: str, email: str) -> Response:
        membership = self.membership()
        body = s.MemberRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.membership_set_role(
            membership=membership,
            role=body.validated_data["role"],
            actor=self.actor,
            source_ip=self.source_ip,
        )
        return self.one(membership, s.MemberSerializer)

    @extend_schema(summary="Remove a member (or leave)", responses=NO_BODY)
    def delete(self, request: Request, org: str, email: str) -> Response:
        membership = self.membership()
        services.membership_remove(
            membership=membership, actor=self.actor, source_ip=self.source_ip
        )
        return Response(status=204)


class InvitationListView(ApiView):
    serializer_class = s.InvitationSerializer
    required_actions = needs(GET=Action.MANAGE_MEMBERS, POST=Action.MANAGE_MEMBERS)

    @extend_schema(
        summary="Pending invitations (owners, admins)", responses=s.InvitationSerializer(many=True)
    )
    def get(self, request: Request, org: str) -> Response:
        organization = self.organization
        require(self.actor, Action.MANAGE_MEMBERS, organization)
        invitations = account_selectors.pending_invitations(organization=organization)
        return self.paged(invitations.order_by("-created_at", "-pk"), s.InvitationSerializer)

    @extend_schema(summary="Invite someone by email", responses={201: s.NewInvitationSerializer})
    def post(self, request: Request, org: str) -> Response:
        organization = self.organization
        body = s.InvitationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        new = services.invitation_create(
            organization=organization,
            email=body.validated_data["email"],
            role=body.validated_data["role"],
            actor=self.actor,
            # PUBLIC_URL, as in the dashboard: the emailed link must not depend on which of
            # ALLOWED_HOSTS the request named (an internal name, another front end's).
            base_url=settings.PUBLIC_URL,
            source_ip=self.source_ip,
        )
        data = {**s.InvitationSerializer(new.invitation).data, "url": new.url}
        return Response(data, status=201)


class InvitationView(ApiView):
    serializer_class = s.InvitationSerializer
    required_actions = needs(DELETE=Action.MANAGE_MEMBERS)

    @extend_schema(summary="Revoke the pending invitations sent to an address", responses=NO_BODY)
    def delete(self, request: Request, org: str, email: str) -> Response:
        organization = self.organization
        require(self.actor, Action.MANAGE_MEMBERS, organization)
        invitations = account_selectors.pending_invitations_to(
            organization=organization, email=email
        )
        with transaction.atomic():
            for invitation in invitations:
                services.invitation_revoke(
                    invitation=invitation, actor=self.actor, source_ip=self.source_ip
                )
        return Response(status=204)


# API keys ---------------------------------------------------------------------------------------


class ApiKeyListView(ApiView):
    serializer_class = s.ApiKeySerializer
    # Listing is open to every key (it sees itself; with manage:keys, every key). Creating
    # takes manage:keys from a key; a person needs only membership for a personal key.
    required_actions = needs(POST=Action.MANAGE_KEYS)

    @extend_schema(
        summary="Keys you may manage (a key: itself; with manage:keys, all), active first",
        responses=s.ApiKeySerializer(many=True),
    )
    def get(self, request: Request, org: str) -> Response:
        keys = account_selectors.api_keys_for(actor=self.actor, organization=self.organization)
        return self.paged(keys, s.ApiKeySerializer)

    @extend_schema(
        summary="Create a key; its secret is in this answer only",
        request=s.ApiKeyCreateSerializer,
        responses={201: s.NewApiKeySerializer},
    )
    def post(self, request: Request, org: str) -> Response:
        organization = self.organization
        body = s.ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        visible = selectors.repositories_for(actor=self.actor, organization=organization)
        found = {r.slug: r for r in visible.filter(slug__in=data["repositories"])}
        for slug in data["repositories"]:
            if slug not in found:
                raise NotFound(f"Repository '{organization.slug}/{slug}' not found.")
        new = services.api_key_issue(
            actor=self.actor,
            organization=organization,
            name=data["name"],
            scope=data["scope"],
            management_scopes=data["management_scopes"],
            personal=data["personal"],
            # None: every repository; a list (refused by the service when empty): only those.
            repositories=None if data["all_repositories"] else list(found.values()),
            expires_at=data["expires_at"],
            allowed_networks=data["allowed_networks"],
            source_ip=self.source_ip,
        )
        return Response({**s.ApiKeySerializer(new.api_key).data, "token": new.token}, status=201)


class _KeyLookup(ApiView):
    serializer_class = s.ApiKeySerializer

    def api_key(self) -> ApiKey:
        return account_selectors.api_key_for(
            actor=self.actor, organization=self.organization, public_id=self.kwargs["public_id"]
        )


class ApiKeyView(_KeyLookup):
    required_actions = needs(DELETE=Action.MANAGE_KEYS)

    @extend_schema(summary="One key (never its secret)")
    def get(self, request: Request, org: str, public_id: str) -> Response:
        return self.one(self.api_key(), s.ApiKeySerializer)

    @extend_schema(summary="Revoke a key at once", responses={200: s.ApiKeySerializer})
    def delete(self, request: Request, org: str, public_id: str) -> Response:
        api_key = services.api_key_revoke(
            api_key=self.api_key(), actor=self.actor, source_ip=self.source_ip
        )
        return self.one(api_key, s.ApiKeySerializer)


class ApiKeyRotateView(_KeyLookup):
    required_actions = needs(POST=Action.MANAGE_KEYS)

    @extend_schema(
        summary="A new secret for the key; the old one stops working now",
        request=None,
        responses={201: s.NewApiKeySerializer},
    )
    def post(self, request: Request, org: str, public_id: str) -> Response:
        new = services.api_key_rotate(
            api_key=self.api_key(), actor=self.actor, source_ip=self.source_ip
        )
        return Response({**s.ApiKeySerializer(new.api_key).data, "token": new.token}, status=201)
