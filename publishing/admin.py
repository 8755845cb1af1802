from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from publishing.models import TrustedPublisher


@admin.register(TrustedPublisher)
class TrustedPublisherAdmin(admin.ModelAdmin):
    """For operators to see who trusts which CI; changes go through the dashboard or the API,
    whose services check roles and audit them."""

    list_display = ("repository", "kind", "ci_repository", "workflow", "issuer", "last_used_at")
    list_filter = ("kind",)
    search_fields = ("ci_repository", "issuer", "repository__slug")
    list_select_related = ("repository__organization",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
