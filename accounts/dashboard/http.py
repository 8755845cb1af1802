"""The request a dashboard page sees once `login_required` has let it through."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User


class AuthenticatedRequest(HttpRequest):
    """For type checkers only: behind `login_required`, `request.user` is a real user."""

    user: User
