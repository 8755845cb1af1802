"""The worker side of webhooks: one attempt at sending a delivery, recorded, and when to try
again. Called by webhooks.tasks; never enqueues anything."""

from __future__ import annotations

import time
from datetime import datetime
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.models import DeliveryAttempt
from webhooks.models import DeliveryStatus
from webhooks.signing import SIGNATURE_HEADER
from webhooks.signing import signature
from webhooks.targets import Target
from webhooks.targets import TargetRefused
from webhooks.targets import target_resolve

USER_AGENT = "Wheelhouse-Webhooks/1"


def retry_delay(*, attempts: int, first_at: datetime, now: datetime) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones: doubling from
    WEBHOOK_RETRY_BASE_SECONDS up to WEBHOOK_RETRY_MAX_SECONDS, for as long as the next
    attempt falls within WEBHOOK_RETRY_WINDOW_SECONDS of the first (about a day); None: give
    up, the delivery has failed."""
    delay = min(
        settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1),
        settings.WEBHOOK_RETRY_MAX_SECONDS,
    )
    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if now + timedelta(seconds=delay) - first_at > window:
        return None
    return float(delay)


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take the delivery for one attempt, if it is pending, due and nobody else's: a
    duplicated message (a retry scheduled twice, the sweep and a countdown) sends once."""
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    claimable = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    return claimable.update(claimed_until=now + lease) == 1


def _send(target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST the body; the status code. The response body is never read (a receiver may not
    make the worker download anything), redirects never followed, no proxy from the
    environment (it would connect to a name we did not check)."""
    timeout = httpx.Timeout(
        settings.WEBHOOK_TIMEOUT_SECONDS, connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS
    )
    extensions = {}
    if target.address is not None and target.parts.scheme == "https":
        # Connected to the checked address; the certificate must still be the host's.
        extensions["sni_hostname"] = target.parts.hostname or ""
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        client.stream(
            "POST",
            target.connect_url,
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions=extensions,
        ) as response,
    ):
        return response.status_code


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Send the delivery once, record the attempt, and say when to try again (seconds), or
    None when there is nothing more to do (it succeeded, failed for good, or was not ours)."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Wheelhouse-Event": delivery.event_type,
        "Wheelhouse-Event-Id": delivery.event_id,
        "Wheelhouse-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature(webhook.secret, body, timestamp),
    }
    code: int | None = None
    error = ""
    final = False
    started = time.monotonic()
    try:
        code = _send(target_resolve(webhook.url), body, headers)
    except TargetRefused as exc:
        # The URL is not one we send to: trying again will not change it.
        error, final = exc.messages[0], True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = code is not None and 200 <= code < 300
    if code is not None and not succeeded:
        error = f"The receiver answered {code}" + (
            " (redirects are not followed)." if 300 <= code < 400 else "."
        )
    number = delivery.attempt_count + 1
    delay = (
        None
        if succeeded or final
        else retry_delay(attempts=number, first_at=delivery.created_at, now=timezone.now())
    )
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=now,
            duration_ms=duration_ms,
            response_code=code,
            error=error[:500],
            succeeded=succeeded,
        )
        delivery.attempt_count = number
        delivery.claimed_until = None
        if succeeded or delay is None:
            delivery.status = DeliveryStatus.SUCCEEDED if succeeded else DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            delivery.finished_at = timezone.now()
        else:
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.save(
            update_fields=[
                "attempt_count",
                "claimed_until",
                "status",
                "next_attempt_at",
                "finished_at",
            ]
        )
    return delay


def deliveries_due(*, older_than: float = 0) -> list[int]:
    """Pending deliveries whose next attempt is due (by `older_than` seconds at least, so a
    retry already scheduled in a message gets its turn first) and that nobody holds."""
    now = timezone.now()
    return list(
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=older_than),
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
