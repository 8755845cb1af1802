"""The API's one permission rule: somebody must be calling. What they may do is `can()`'s,
asked by the services and selectors the views call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.exceptions import NotAuthenticated
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.models import User
from accounts.permissions import Actor

if TYPE_CHECKING:
    # Only for the annotation: DRF imports this module while rest_framework.views loads.
    from rest_framework.views import APIView


def actor_of(request: Request) -> Actor:
    """The API key when one was presented, else the logged-in user."""
    return request.auth if isinstance(request.auth, ApiKey) else request.user


class HasActor(BasePermission):
    message = "Authentication required: send an API key or log in."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, ApiKey) or bool(request.user.is_authenticated)


def require_person(actor: Actor, what: str) -> User:
    """Some changes are made by people only, from a dashboard session: the person acting."""
    if isinstance(actor, ApiKey):
        raise PermissionDenied(f"API keys cannot {what}; use a logged-in session.")
    if not isinstance(actor, User):
        raise NotAuthenticated()
    return actor
