"""The dashboard's mapping of domain errors to HTTP: a missing or foreign object is a 404 page.

The index and the REST API catch the same errors themselves and answer in their own shapes;
this only sees what an HTML view let through.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404
from django.http import HttpRequest
from django.http import HttpResponse

from core.errors import NotFound


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            # Raised again as Django's own 404, so the 404 handler renders the page.
            raise Http404(str(exception)) from exception
