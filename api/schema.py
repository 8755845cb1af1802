"""The OpenAPI schema documents, for every operation, the error answers it can give and the
API key scope it needs."""

from __future__ import annotations

from typing import Any
from typing import Literal

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import PolymorphicProxySerializer

from accounts.permissions import ACTION_SCOPE
from api.errors import ErrorSerializer

ERRORS = {
    "400": "The request is invalid; `fields` says where.",
    "401": "No API key or session, or an invalid, expired or revoked key.",
    "403": "Known, but your role or the key's scope does not allow this.",
    "404": "Missing, or belongs to another organization (the two look the same).",
    "405": "This method is not allowed here.",
    "406": "The response cannot be given in the requested format.",
    "415": "The request body's content type is not supported.",
    "429": "Too many failed key checks from your address or for this key; see Retry-After.",
}
WRITE_ERRORS = {
    "409": "Conflicts with the current state (e.g. the repository keeps its files).",
    "413": "The uploaded file is larger than the repository allows.",
}


class ErrorDocumentingSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        # drf-spectacular's own schema and docs views are not ApiViews: public, no scope.
        if operation is None or not hasattr(self.view, "required_action"):
            return operation
        action = self.view.required_action(self.method)
        scope = ACTION_SCOPE.get(action) if action is not None else None
        if scope is None:
            operation["x-session-only"] = True
            said = "**Sessions only**: no API key scope allows this."
        else:
            operation["x-required-scope"] = scope
            said = f"**API key scope**: `{scope}` (a personal key: and its user's role allows it)."
        operation["description"] = "\n\n".join(filter(None, [operation.get("description"), said]))
        return operation

    def _get_response_bodies(
        self, direction: Literal["request", "response"] = "response"
    ) -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = dict(ERRORS)
        if self.method not in {"GET", "HEAD"}:
            codes |= WRITE_ERRORS
        for code, description in codes.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code)
                response["description"] = description
                responses[code] = response
        return responses

    def _get_request_body(self, direction: Literal["request", "response"] = "request") -> Any:
        body = super()._get_request_body(direction)
        # A body of one of several shapes (the kind decides) is required all the same: every
        # shape has required fields. drf-spectacular only sees that for a single serializer.
        if body is not None and isinstance(
            self.get_request_serializer(), PolymorphicProxySerializer
        ):
            body["required"] = True
        return body
