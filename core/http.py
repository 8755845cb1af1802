"""Plain-text HTTP answers shared by the index, the upload endpoint and the dashboard."""

from __future__ import annotations

import json
from http import HTTPStatus

from django.http import HttpRequest
from django.http import HttpResponse
from django.utils.http import parse_etags


def _reason_phrase(message: str) -> str:
    # twine shows the status line's reason; it must be one latin-1 line.
    line = " ".join(message.split())
    return line.encode("latin-1", "replace").decode("latin-1")


def error_response(status: int, message: str, *, as_json: bool = False) -> HttpResponse:
    """An error whose one-line reason is in both the status line and the body: plain text,
    or with `as_json` the `{"message", "code", "title"}` object PyPI sends and uv reads."""
    if as_json:
        title = HTTPStatus(status).phrase
        body = {"message": message, "code": f"{status} {_reason_phrase(message)}", "title": title}
        return HttpResponse(
            json.dumps(body),
            status=status,
            reason=_reason_phrase(message),
            content_type="application/json",
        )
    return HttpResponse(
        message + "\n",
        status=status,
        reason=_reason_phrase(message),
        content_type="text/plain; charset=utf-8",
    )


def unauthorized_response(realm: str, message: str) -> HttpResponse:
    response = error_response(401, message)
    response["WWW-Authenticate"] = f'Basic realm="{realm}"'
    return response


def too_many_attempts_response(message: str, retry_after: int) -> HttpResponse:
    response = error_response(429, message)
    response["Retry-After"] = str(retry_after)
    return response


def wants_json(request: HttpRequest) -> bool:
    """The client named JSON, and not HTML, among what it accepts."""
    accept = request.headers.get("Accept", "").lower()
    return "json" in accept and "html" not in accept


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/` is ignored."""
    tags = {tag.removeprefix("W/") for tag in parse_etags(if_none_match)}
    return etag in tags or "*" in tags
