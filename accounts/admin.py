from __future__ import annotations

from typing import Any
from typing import ClassVar

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Model
from django.http import HttpRequest

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import User
from accounts.services import audit_record


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "storage_quota", "max_file_size", "created_at")
    search_fields = ("slug", "name")
    inlines: ClassVar = [MembershipInline]
    fieldsets = (
        (None, {"fields": ("slug", "name")}),
        ("Quotas (bytes)", {"fields": ("storage_quota", "max_file_size")}),
    )

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        changed = [n for n in ("storage_quota", "max_file_size") if n in form.changed_data]
        if change and changed:
            # As manage.py quota records it: the operator's change, in the audit log.
            audit_record(
                organization=obj,
                action="organization.quota",
                actor=request.user if isinstance(request.user, User) else None,
                target=f"organization {obj.slug}",
                details={
                    "before": {n: form.initial.get(n) for n in changed},
                    "after": {n: getattr(obj, n) for n in changed},
                    "via": "admin",
                },
            )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "public_id",
        "organization",
        "scope",
        "management_scopes",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("scope",)
    search_fields = ("name", "public_id", "organization__slug")
    # The hash is useless to show and keys are made through services, never typed in here.
    exclude = ("secret_hash",)
    readonly_fields = ("public_id", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "expires_at", "accepted_at")
    search_fields = ("email", "organization__slug")
    # Invitations are sent from the dashboard, where the link is made and emailed.
    exclude = ("token_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "actor_label", "action", "target", "source_ip")
    list_filter = ("action",)
    search_fields = ("organization__slug", "actor_label", "target")
    list_select_related = ("organization",)

    # The log is evidence: nobody edits or deletes it, staff included.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
