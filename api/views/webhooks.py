"""An organization's webhooks, their deliveries (redeliver, send a test event), and its quota."""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import Action
from api import serializers as s
from api.views.base import ApiView
from api.views.base import needs
from registry import selectors as registry_selectors
from registry.quotas import quota_for
from webhooks import selectors
from webhooks import services
from webhooks.models import Webhook

MANAGE = Action.MANAGE_WEBHOOKS


class WebhookListView(ApiView):
    serializer_class = s.WebhookSerializer
    required_actions = needs(GET=MANAGE, POST=MANAGE)

    @extend_schema(
        summary="The organization's webhooks (owners, admins)",
        responses=s.WebhookSerializer(many=True),
    )
    def get(self, request: Request, org: str) -> Response:
        webhooks = selectors.webhooks_for(actor=self.actor, organization=self.organization)
        return self.paged(webhooks, s.WebhookSerializer)

    @extend_schema(
        summary="Send events to a URL, signed (owners, admins)",
        description="The answer carries the secret that signs deliveries, this once.",
        request=s.WebhookCreateSerializer,
        responses={201: s.NewWebhookSerializer},
    )
    def post(self, request: Request, org: str) -> Response:
        organization = self.organization
        body = s.WebhookCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        repository = None
        if data["repository"]:
            repository = registry_selectors.repository_for(
                actor=self.actor, org=organization.slug, repo=data["repository"]
            )
        new = services.webhook_create(
            actor=self.actor,
            organization=organization,
            url=data["url"],
            events=data["events"],
            repository=repository,
            description=data["description"],
            active=data["active"],
            source_ip=self.source_ip,
        )
        return Response({**s.WebhookSerializer(new.webhook).data, "secret": new.secret}, status=201)


class _WebhookLookup(ApiView):
    @cached_property
    def webhook(self) -> Webhook:
        return selectors.webhook_for(
            actor=self.actor, organization=self.organization, webhook_id=self.kwargs["webhook_id"]
        )


class WebhookView(_WebhookLookup):
    serializer_class = s.WebhookSerializer
    required_actions = needs(GET=MANAGE, PATCH=MANAGE, DELETE=MANAGE)

    @extend_schema(summary="One webhook (owners, admins)")
    def get(self, request: Request, org: str, webhook_id: int) -> Response:
        return self.one(self.webhook, s.WebhookSerializer)

    @extend_schema(
        summary="Change its URL, events, description, or turn it off (owners, admins)",
        request=s.WebhookUpdateSerializer,
    )
    def patch(self, request: Request, org: str, webhook_id: int) -> Response:
        webhook = self.webhook
        body = s.WebhookUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        webhook = services.webhook_update(
            actor=self.actor, webhook=webhook, source_ip=self.source_ip, **body.validated_data
        )
        return self.one(webhook, s.WebhookSerializer)

    @extend_schema(
        summary="Remove it with its delivery log (owners, admins)", responses={204: None}
    )
    def delete(self, request: Request, org: str, webhook_id: int) -> Response:
        services.webhook_delete(actor=self.actor, webhook=self.webhook, source_ip=self.source_ip)
        return Response(status=204)


class WebhookTestView(_WebhookLookup):
    serializer_class = s.DeliverySerializer
    required_actions = needs(POST=MANAGE)

    @extend_schema(
        summary="Send it a test event (type webhook.test) (owners, admins)",
        request=None,
        responses={202: s.DeliverySerializer},
    )
    def post(self, request: Request, org: str, webhook_id: int) -> Response:
        delivery = services.webhook_test(
            actor=self.actor, webhook=self.webhook, source_ip=self.source_ip
        )
        delivery.refresh_from_db()
        return self.one(delivery, s.DeliverySerializer, 202)


class DeliveryListView(_WebhookLookup):
    serializer_class = s.DeliverySerializer
    required_actions = needs(GET=MANAGE)

    @extend_schema(
        summary="Its deliveries, newest first, each with its attempts (owners, admins)",
        responses=s.DeliverySerializer(many=True),
    )
    def get(self, request: Request, org: str, webhook_id: int) -> Response:
        return self.paged(selectors.deliveries_for(webhook=self.webhook), s.DeliverySerializer)


class RedeliverView(_WebhookLookup):
    serializer_class = s.DeliverySerializer
    required_actions = needs(POST=MANAGE)

    @extend_schema(
        summary="Send a delivery's event again, as a new delivery (owners, admins)",
        request=None,
        responses={202: s.DeliverySerializer},
    )
    def post(self, request: Request, org: str, webhook_id: int, delivery_id: int) -> Response:
        delivery = selectors.delivery_for(webhook=self.webhook, delivery_id=delivery_id)
        again = services.delivery_redeliver(
            actor=self.actor, delivery=delivery, source_ip=self.source_ip
        )
        again.refresh_from_db()
        return self.one(again, s.DeliverySerializer, 202)


class QuotaView(ApiView):
    serializer_class = s.QuotaSerializer

    @extend_schema(summary="The organization's storage and file-size quotas, and its use")
    def get(self, request: Request, org: str) -> Response:
        return self.one(
            quota_for(actor=self.actor, organization=self.organization), s.QuotaSerializer
        )
