from __future__ import annotations

from django.contrib import admin

from webhooks.models import Delivery
from webhooks.models import Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("organization", "url", "repository", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("organization__slug", "url")
    # The secret signs deliveries and is never shown back, here neither.
    exclude = ("secret",)
    raw_id_fields = ("organization", "repository", "created_by")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "event_id", "webhook", "status", "attempt_count", "created_at")
    list_filter = ("status", "event_type")
    raw_id_fields = ("webhook",)
