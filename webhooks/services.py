"""Webhooks: made, changed and removed by those who may manage them (audited), and the
deliveries each event of the organization becomes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import acting_user
from accounts.permissions import require
from accounts.services import actor_label
from accounts.services import audit_record
from core.events import Event
from core.events import EventType
from registry.models import Repository
from webhooks.models import TEST_EVENT
from webhooks.models import Delivery
from webhooks.models import Webhook
from webhooks.signing import secret_new
from webhooks.targets import target_resolve
from webhooks.tasks import delivery_send_on_commit


class _Keep:
    """An argument not given: the current value stays."""


KEEP: Any = _Keep()


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just made, with its secret: shown this once."""

    webhook: Webhook
    secret: str


def _events_clean(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in {t.value for t in EventType}]
    if unknown:
        raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}."})
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return chosen


def _url_clean(url: str) -> str:
    url = url.strip()
    if len(url) > 500:
        raise ValidationError({"url": "At most 500 characters."})
    # Resolved now, to say at once when it could never be sent to; again at every delivery.
    target_resolve(url)
    return url


def _details(webhook: Webhook) -> dict[str, Any]:
    return {
        "url": webhook.url,
        "events": webhook.events,
        "repository": webhook.repository.slug if webhook.repository else None,
        "active": webhook.active,
    }


def webhook_create(
    *,
    actor: Actor,
    organization: Organization,
    url: str,
    events: Iterable[str],
    repository: Repository | None = None,
    description: str = "",
    active: bool = True,
    source_ip: str | None = None,
) -> NewWebhook:
    """A webhook for the organization's events (or one repository's); its secret, new."""
    require(actor, Action.MANAGE_WEBHOOKS, organization, repository)
    webhook = Webhook(
        organization=organization,
        repository=repository,
        url=_url_clean(url),
        events=_events_clean(events),
        description=description.strip()[:200],
        active=active,
        secret=secret_new(),
        created_by=acting_user(actor),
    )
    with transaction.atomic():
        webhook.save()
        audit_record(
            organization=organization,
            action="webhook.create",
            actor=actor,
            target=f"webhook {webhook.pk}",
            source_ip=source_ip,
            details=_details(webhook),
        )
    return NewWebhook(webhook=webhook, secret=webhook.secret)


def webhook_update(
    *,
    actor: Actor,
    webhook: Webhook,
    url: str = KEEP,
    events: Iterable[str] = KEEP,
    active: bool = KEEP,
    description: str = KEEP,
    source_ip: str | None = None,
) -> Webhook:
    require(actor, Action.MANAGE_WEBHOOKS, webhook.organization, webhook.repository)
    before = _details(webhook)
    if url is not KEEP:
        webhook.url = _url_clean(url)
    if events is not KEEP:
        webhook.events = _events_clean(events)
    if active is not KEEP:
        webhook.active = bool(active)
    if description is not KEEP:
        webhook.description = description.strip()[:200]
    with transaction.atomic():
        webhook.save(update_fields=["url", "events", "active", "description"])
        after = _details(webhook)
        audit_record(
            organization=webhook.organization,
            action="webhook.update",
            actor=actor,
            target=f"webhook {webhook.pk}",
            source_ip=source_ip,
            details={
                k: {"before": before[k], "after": v} for k, v in after.items() if before[k] != v
            },
        )
    return webhook


def webhook_delete(*, actor: Actor, webhook: Webhook, source_ip: str | None = None) -> None:
    """Remove the webhook with its delivery log; deliveries not yet sent are dropped."""
    require(actor, Action.MANAGE_WEBHOOKS, webhook.organization, webhook.repository)
    with transaction.atomic():
        audit_record(
            organization=webhook.organization,
            action="webhook.delete",
            actor=actor,
            target=f"webhook {webhook.pk}",
            source_ip=source_ip,
            details=_details(webhook),
        )
        webhook.delete()


# Deliveries -------------------------------------------------------------------------------------


def event_body(event: Event, organization: Organization) -> str:
    """The JSON every receiver of the event gets: what happened, to what, by whom, when."""
    payload = {
        "id": event.id,
        "type": str(event.type),
        "created_at": event.occurred_at.isoformat(),
        "organization": organization.slug,
        "actor": event.actor,
        **event.subject,
    }
    return _json(payload)


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def deliveries_create_for(event: Event) -> list[Delivery]:
    """The deliveries of an event to the organization's webhooks that want it, each sent
    once they are saved. Subscribed to core.events (WebhooksConfig.ready): runs after the
    action committed, one query when the organization has no webhook."""
    webhooks = [
        webhook
        for webhook in Webhook.objects.filter(
            organization_id=event.organization_id, active=True
        ).select_related("organization")
        if webhook.wants(event.type, event.repository_id)
    ]
    if not webhooks:
        return []
    body = event_body(event, webhooks[0].organization)
    return _deliveries_create(webhooks, event_id=event.id, event_type=event.type, body=body)


def _deliveries_create(
    webhooks: list[Webhook], *, event_id: str, event_type: str, body: str
) -> list[Delivery]:
    now = timezone.now()
    with transaction.atomic():
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                webhook=webhook,
                event_id=event_id,
                event_type=event_type,
                body=body,
                next_attempt_at=now,
            )
            for webhook in webhooks
        )
        for delivery in deliveries:
            delivery_send_on_commit(delivery.pk)
    return deliveries


def webhook_test(*, actor: Actor, webhook: Webhook, source_ip: str | None = None) -> Delivery:
    """Send the webhook a test event (whichever events it takes, and even if turned off)."""
    organization = webhook.organization
    require(actor, Action.MANAGE_WEBHOOKS, organization, webhook.repository)
    event_id = f"evt_{uuid.uuid4().hex}"
    body = _json({
        "id": event_id,
        "type": TEST_EVENT,
        "created_at": timezone.now().isoformat(),
        "organization": organization.slug,
        "actor": actor_label(actor),
        "repository": webhook.repository.slug if webhook.repository else None,
    })  # fmt: skip
    with transaction.atomic():
        (delivery,) = _deliveries_create(
            [webhook], event_id=event_id, event_type=TEST_EVENT, body=body
        )
        audit_record(
            organization=organization,
            action="webhook.test",
            actor=actor,
            target=f"webhook {webhook.pk}",
            source_ip=source_ip,
        )
    return delivery


def delivery_redeliver(
    *, actor: Actor, delivery: Delivery, source_ip: str | None = None
) -> Delivery:
    """Send a delivery's event again, as a new delivery with the same body and event id
    (receivers that keep ids see a repeat), retried as any other."""
    webhook = delivery.webhook
    require(actor, Action.MANAGE_WEBHOOKS, webhook.organization, webhook.repository)
    with transaction.atomic():
        (again,) = _deliveries_create(
            [webhook],
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            body=delivery.body,
        )
        audit_record(
            organization=webhook.organization,
            action="webhook.redeliver",
            actor=actor,
            target=f"webhook {webhook.pk}",
            source_ip=source_ip,
            details={"delivery": delivery.pk, "event": delivery.event_id, "new": again.pk},
        )
    return again
