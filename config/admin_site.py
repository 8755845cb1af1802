"""The admin site, with its log-in throttled like the dashboard's.

Staff and superuser passwords are the most valuable ones: /admin/login/ counts wrong
passwords into the same per-account and per-source counters as /accounts/login/, so neither
door gives an attacker more guesses than the other.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.http import HttpResponse

from accounts.authentication import LOGIN_THROTTLED_MESSAGE
from accounts.authentication import login_failure
from accounts.authentication import login_retry_after
from accounts.network import client_ip
from core.http import too_many_attempts_response


class AdminSite(admin.AdminSite):
    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        email = request.POST.get("username", "")
        source_ip = client_ip(request)
        retry_after = login_retry_after(email=email, source_ip=source_ip)
        if retry_after is not None:
            return too_many_attempts_response(LOGIN_THROTTLED_MESSAGE, retry_after)
        response = super().login(request, extra_context)
        # Django's LoginView answers a POST with a redirect when the credentials are right
        # (for a staff account) and with the form again, 200, when they are not.
        if response.status_code == 200:
            login_failure(email=email, source_ip=source_ip)
        return response
