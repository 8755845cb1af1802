"""Domain events: what happened, told to whoever listens once it has committed.

The services that own an action (a file published, a release yanked, a key revoked, ...)
emit an `Event`; apps above them subscribe in their AppConfig.ready (the webhooks app does).
This lowest module knows no subscriber, so imports still flow one way: the apps that emit
never import the ones that listen.

Listeners run after the surrounding transaction commits (`transaction.on_commit`), never
for a rolled-back change; outside a transaction, at once. A listener that fails is logged
and never undoes, or fails, the action that emitted the event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


class EventType(StrEnum):
    FILE_PUBLISHED = "file.published"
    FILE_REJECTED = "file.rejected"
    FILE_DELETED = "file.deleted"
    RELEASE_YANKED = "release.yanked"
    RELEASE_UNYANKED = "release.unyanked"
    RELEASE_DELETED = "release.deleted"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"


@dataclass(frozen=True)
class Event:
    """One fact about an organization. `subject` holds what it is about, in names (the
    repository slug, project, version, filename, key id, member email), never row ids of
    another tenant; `actor` is who did it in words, as the audit log labels it."""

    type: EventType
    organization_id: int
    repository_id: int | None = None
    subject: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    actor: str = ""
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")
    occurred_at: datetime = field(default_factory=timezone.now)


Listener = Callable[[Event], object]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call `listener` with every event from now on (once, however often subscribed)."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(event: Event) -> None:
    """Tell the listeners about `event` once the current transaction has committed."""
    if _listeners:
        transaction.on_commit(lambda: _deliver(event))


def _deliver(event: Event) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            # The action is done and committed; a listener's fault must not turn it into an
            # error for the client that asked for it.
            logger.exception("listener %r failed on %s %s", listener, event.type, event.id)
