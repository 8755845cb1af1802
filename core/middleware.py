"""Mappings of errors no view answers itself to HTTP.

- A missing or foreign object is the dashboard's 404 page. The index and the REST API catch
  the same errors themselves and answer in their own shapes; this only sees what an HTML
  view let through.
- A dependency that is down (the database, the packages storage) is a 503 with a one-line
  reason and Retry-After, which twine, pip and uv show and retry on, never a bare 500 page.
  The request's own transaction (if any) has rolled back by then: nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError
from django.http import Http404
from django.http import HttpRequest
from django.http import HttpResponse

from core.errors import NotFound
from core.http import error_response

DATABASE_DOWN = "The registry's database is unavailable; try again in a few seconds."
STORAGE_DOWN = "The registry's package storage is unavailable; try again in a few seconds."


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            # Raised again as Django's own 404, so the 404 handler renders the page.
            raise Http404(str(exception)) from exception


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
