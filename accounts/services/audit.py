"""The audit log: every change, and every refused key use, per organization."""

from __future__ import annotations

from typing import Any

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Organization
from accounts.models import User
from accounts.permissions import Actor


def _actor_fields(actor: Actor | None) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        user = actor.user if actor.user_id else None
        label = f"key {actor.public_id}" + (f" of {user.email}" if user else "")
        return {"actor_api_key": actor, "actor_user": user, "actor_label": label}
    if isinstance(actor, User):
        return {"actor_user": actor, "actor_label": actor.email}
    return {"actor_label": ""}


def audit_record(
    *,
    organization: Organization | None,
    action: str,
    actor: Actor | None = None,
    target: str = "",
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event. `actor` is a User, an ApiKey, or None for the system."""
    return AuditEvent.objects.create(
        organization=organization,
        action=action,
        target=target[:255],
        source_ip=source_ip or None,
        details=details or {},
        **_actor_fields(actor),
    )


def audit_key_refusal(
    *, api_key: ApiKey | None, reason: str, source_ip: str, path: str, method: str
) -> None:
    """Put a refused use of a known key in its organization's audit log (pip, twine and the
    REST API alike). A token that names no key has no organization to tell."""
    if api_key is None:
        return
    audit_record(
        organization=api_key.organization,
        action="api_key.refused",
        actor=api_key,
        target=path[:255],
        source_ip=source_ip,
        details={"reason": reason, "method": method},
    )
