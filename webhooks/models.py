from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from accounts.models import Organization
from registry.models import Repository

# A delivery that is not about an event of the organization: the "send test event" button.
TEST_EVENT = "webhook.test"


class Webhook(models.Model):
    """A URL told of an organization's events (or one repository's), signed with its secret."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Only this repository's events; None: every repository's, and the organization's own
    # (keys, members).
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField(max_length=500)
    # Shown once, at creation. Stored as it is, to sign with (as an upstream's password is
    # stored to log in with): an HMAC key cannot be kept as a hash. Never shown back.
    secret = models.CharField(max_length=100)
    # EventType values.
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["pk"]

    def __str__(self) -> str:
        return f"{self.organization.slug}: {self.url}"

    def wants(self, event_type: str, repository_id: int | None) -> bool:
        """Whether an event of this type, about this repository (None: the organization's
        own), is sent here."""
        if not self.active or event_type not in self.events:
            return False
        return self.repository_id is None or self.repository_id == repository_id


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event sent to one webhook, attempted until it succeeds or its time is up."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=32)
    # The JSON body exactly as sent: every attempt and a redelivery send the same bytes.
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    # When the next attempt is due (pending only); a worker claims it until claimed_until.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-pk"]
        indexes: ClassVar = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to {self.webhook_id}"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: what the receiver answered, or why nothing came."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering: ClassVar = ["number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
