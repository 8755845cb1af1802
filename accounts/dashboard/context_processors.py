"""What every dashboard page needs: the organizations the org switcher offers."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts import selectors


def dashboard(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: pages that do not render the switcher (index, JSON errors) run no query.
    return {
        "switcher_memberships": SimpleLazyObject(
            lambda: list(selectors.memberships_for_user(user=user))
        )
    }
