from __future__ import annotations

from django.http import HttpResponse


def _reason_phrase(message: str) -> str:
    # twine shows the status line's reason; it must be one latin-1 line.
    line = " ".join(message.split())
    return line.encode("latin-1", "replace").decode("latin-1")


def error_response(status: int, message: str) -> HttpResponse:
    """A plain-text error whose one-line reason is in both the status line and the body."""
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
