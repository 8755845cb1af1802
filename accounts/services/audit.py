"""The audit log: every change, and every refused key use, per organization."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Organization
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.throttle import throttle_first
from core.events import Event
from core.events import EventType
from core.events import emit


def _actor_fields(actor: Actor | None) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        user = actor.user if actor.user_id else None
        label = f"key {actor.public_id}" + (f" of {user.email}" if user else "")
        return {"actor_api_key": actor, "actor_user": user, "actor_label": label}
    if isinstance(actor, User):
        return {"actor_user": actor, "actor_label": actor.email}
    return {"actor_label": ""}


def actor_label(actor: Actor | None) -> str:
    """Who acted, in the words the audit log uses ("" for the system)."""
    return str(_actor_fields(actor)["actor_label"])


def audit_record(
    *,
    organization: Organization | None,
    action: str,
    actor: Actor | None = None,
    target: str = "",
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
    event: EventType | None = None,
    repository_id: int | None = None,
    subject: Mapping[str, str] | None = None,
) -> AuditEvent:
    """Write one audit event. `actor` is a User, an ApiKey, or None for the system.

    With `event`, the same fact is also told to event listeners (webhooks) once the
    transaction commits, with this record's time and actor: the audit log stays the one
    record of what happened. `repository_id` and `subject` say what it is about."""
    record = AuditEvent.objects.create(
        organization=organization,
        action=action,
        target=target[:255],
        source_ip=source_ip or None,
        details=details or {},
        **_actor_fields(actor),
    )
    if event is not None and organization is not None:
        emit(
            Event(
                type=event,
                organization_id=organization.pk,
                repository_id=repository_id,
                subject=MappingProxyType(dict(subject or {})),
                actor=record.actor_label,
                occurred_at=record.created_at,
            )
        )
    return record


# Why a known key was refused: check failures (accounts.services.keys) and the index's refusals
# of a verified key (registry.index.access). Anything else is recorded as "other".
KEY_REFUSAL_REASONS = frozenset(
    {"bad secret", "revoked", "expired", "user left", "network", "not visible"}
    | {f"not allowed: {action.value}" for action in Action}
)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Repeats of one refusal are recorded once per window of this scope (accounts.throttle).
KEY_REFUSAL_SCOPE = "key"


def audit_key_refusal(*, api_key: ApiKey | None, reason: str, source_ip: str, method: str) -> None:
    """Put a refused use of a known key in its organization's audit log (pip, twine and the
    REST API alike). A token that names no key has no organization to tell.

    Anyone can present a known key id with a wrong secret (ids show in dashboards and logs),
    so nothing the request chose is written: the target is the key, the reason and method come
    from fixed sets, and one (key, source, reason) is recorded at most once per window.
    """
    if api_key is None:
        return
    reason = reason if reason in KEY_REFUSAL_REASONS else "other"
    method = method.upper() if method.upper() in HTTP_METHODS else "other"
    if not throttle_first(
        scope=KEY_REFUSAL_SCOPE, subject=f"refused {api_key.public_id} {source_ip} {reason}"
    ):
        return
    audit_record(
        organization=api_key.organization,
        action="api_key.refused",
        actor=api_key,
        target=f"key {api_key.public_id}",
        source_ip=source_ip,
        details={"reason": reason, "method": method},
    )
