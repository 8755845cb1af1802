"""Mappings of errors no view answers itself to HTTP.

- A page asked by an organization's or repository's former slug redirects to its current URL.
- A missing or foreign object is the dashboard's 404 page. The index and the REST API catch
  the same errors themselves and answer in their own shapes; this only sees what an HTML
  view let through.
- Browser-only middleware (sessions, users, messages) is skipped for installers:
  a request to the index or the upload URL that carries credentials of its own.
- A dependency that is down (the database, the packages storage) is a 503 with a one-line
  reason and Retry-After, which twine, pip and uv show and retry on, never a bare 500 page.
  The request's own transaction (if any) has rolled back by then: nothing is half-written.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import InterfaceError
from django.db import OperationalError
from django.http import Http404
from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin

from core.errors import NotFound
from core.errors import Renamed
from core.http import error_response

DATABASE_DOWN = "The registry's database is unavailable; try again in a few seconds."
STORAGE_DOWN = "The registry's package storage is unavailable; try again in a few seconds."


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Renamed):
            moved = _renamed_url(request, exception)
            if moved is not None:
                return HttpResponseRedirect(moved)
        if isinstance(exception, NotFound):
            # Raised again as Django's own 404, so the 404 handler renders the page.
            raise Http404(str(exception)) from exception
        return None


def _renamed_url(request: HttpRequest, renamed: Renamed) -> str | None:
    """The same page under the current slugs, with the same query; None if it has no name.

    A redirect (302, not 301): the old slug answers only for a while, and may be taken by a
    new organization or repository later, which a browser's cached 301 would never see."""
    match = request.resolver_match
    if match is None or not match.url_name or not set(renamed.slugs) <= set(match.kwargs):
        return None
    try:
        path = reverse(match.view_name, kwargs={**match.kwargs, **renamed.slugs})
    except NoReverseMatch:
        return None
    query = request.META.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


class DependencyOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            reason = DATABASE_DOWN
        elif settings.S3_BUCKET and _storage_down(exception):
            reason = STORAGE_DOWN
        else:
            return None
        response = error_response(503, reason)
        response["Retry-After"] = str(settings.OUTAGE_RETRY_AFTER)
        return response


def _storage_down(exception: Exception) -> bool:
    # Imported here: only S3 deployments load botocore (tens of megabytes per process).
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    if isinstance(exception, BotoCoreError):  # no answer: refused, timed out, reset
        return True
    if not isinstance(exception, ClientError):
        return False
    # A 4xx from S3 is our bug (a bad key, a missing bucket): a 500, and logged as one.
    status = exception.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    return int(status) >= 500


# The index, file, JSON API and upload URLs of a repository (config.urls): /<org>/<repo>/...
INSTALLER_PATH = re.compile(r"^/[^/]+/[^/]+/(?:simple|files|pypi|legacy)(?:/|$)")


def from_installer(request: HttpRequest) -> bool:
    """pip, uv, poetry, pdm, twine and friends: an index or upload URL with credentials.

    They send no cookies, so sessions, users and messages mean nothing to them, and those cost
    a sixth of a warm index request. A browser (no
    Authorization header) on the same URLs still gets the whole stack."""
    return "HTTP_AUTHORIZATION" in request.META and bool(INSTALLER_PATH.match(request.path_info))


class _BrowserOnly(MiddlewareMixin):
    """Mixed into a middleware: it stands aside for installers (`from_installer`)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if from_installer(request):
            return self.get_response(request)
        return super().__call__(request)


class BrowserSessionMiddleware(_BrowserOnly, SessionMiddleware):
    pass


class BrowserAuthenticationMiddleware(_BrowserOnly, AuthenticationMiddleware):
    pass


class BrowserMessageMiddleware(_BrowserOnly, MessageMiddleware):
    pass
