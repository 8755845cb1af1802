"""Every API error has one shape: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.http import HttpRequest
from django.http import JsonResponse
from django.urls import Resolver404
from django.urls import resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import Conflict as DomainConflict
from core.errors import NotFound
from uploads.errors import UploadError
from uploads.web import upload_status


class Conflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class UploadRefused(exceptions.APIException):
    default_code = "upload_refused"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A machine-readable code, e.g. not_found.")
    message = serializers.CharField(help_text="One line for people.")
    # The error body's key is `fields`; DRF's metaclass moves declared fields off the class,
    # so this never shadows Serializer.fields at run time.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages, when the request body or query was invalid.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def _domain_to_drf(exc: Exception) -> Exception:
    """The REST API's one mapping of domain (and Django) errors to its answers."""
    if isinstance(exc, NotFound | Http404):
        return exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or "You may not do this.")
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, DomainConflict):
        return Conflict(str(exc))
    if isinstance(exc, UploadError):
        return UploadRefused(upload_status(exc), exc.message)
    return exc


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flatten(value)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if not isinstance(detail, dict):
        return {}
    return {str(name): _flatten(value) for name, value in detail.items()}


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _domain_to_drf(exc)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        first = next(iter(_flatten(exc.detail)), "Invalid request.")
        message = first if len(fields) <= 1 else "Some fields are invalid."
        name = next(iter(fields), "")
        if name and name != "non_field_errors" and message == first:
            message = f"{name}: {first}"
        response.data = error_body("invalid", message, fields)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), " ".join(_flatten(exc.detail)))
    return response


@csrf_exempt  # it changes nothing, and a script's stray POST should read this, not a CSRF page
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown URLs under /api/v1/ answer in the API's shape, not with an HTML page."""
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/") and _is_endpoint(request.path + "/"):
        # Redirecting would turn a POST into a GET in many clients: say it instead.
        message += f" API URLs end with a slash: {request.path}/"
    return JsonResponse(error_body("not_found", message), status=404)


def _is_endpoint(path: str) -> bool:
    try:
        return resolve(path).url_name != "api-not-found"
    except Resolver404:
        return False
