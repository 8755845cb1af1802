"""The API's one permission rule: somebody must be calling. What they may do is `can()`'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from accounts.models import ApiKey
from accounts.permissions import Action
from accounts.permissions import can

if TYPE_CHECKING:
    from rest_framework.request import Request

    from accounts.models import Organization
    from registry.models import Repository


def actor_of(request: Request) -> object:
    """The API key when one was presented, else the logged-in user."""
    return request.auth if isinstance(request.auth, ApiKey) else request.user


class HasActor(BasePermission):
    message = "Authentication required: send an API key or log in."

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, ApiKey) or bool(request.user.is_authenticated)


def require(
    actor: object,
    action: Action,
    organization: Organization,
    repository: Repository | None = None,
) -> None:
    """403 unless the role table (or the key's scope and limits) allows `action`."""
    if not can(actor, action, organization, repository):
        if isinstance(actor, ApiKey):
            raise PermissionDenied(f"This API key's scope does not allow {action.value}.")
        raise PermissionDenied(f"Your role does not allow {action.value}.")


def require_person(actor: object, what: str) -> None:
    """Some changes are made by people only, from a dashboard session."""
    if isinstance(actor, ApiKey):
        raise PermissionDenied(f"API keys cannot {what}; use a logged-in session.")
