"""Reads of webhooks and their deliveries, through the actor: another organization's look
missing (the organization itself is found by accounts.selectors.organization_for), and
those who may not manage webhooks are refused."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Organization
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import require
from core.errors import NotFound
from webhooks.models import Delivery
from webhooks.models import Webhook

RECENT_DELIVERIES = 50


def webhooks_for(*, actor: Actor, organization: Organization) -> QuerySet[Webhook]:
    require(actor, Action.MANAGE_WEBHOOKS, organization)
    return Webhook.objects.filter(organization=organization).select_related("repository")


def webhook_for(*, actor: Actor, organization: Organization, webhook_id: int) -> Webhook:
    webhook = webhooks_for(actor=actor, organization=organization).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound(f"No webhook {webhook_id} in organization '{organization.slug}'.")
    webhook.organization = organization
    return webhook


def deliveries_for(*, webhook: Webhook) -> QuerySet[Delivery]:
    """The webhook's deliveries, newest first, each with its attempts."""
    return webhook.deliveries.prefetch_related("attempts").order_by("-pk")


def delivery_for(*, webhook: Webhook, delivery_id: int) -> Delivery:
    delivery = webhook.deliveries.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id} of this webhook.")
    delivery.webhook = webhook
    return delivery
