"""What every API view shares: who is calling, tenant lookups, pages, ETags."""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.models import Organization
from accounts.network import client_ip
from api.permissions import actor_of
from registry import selectors
from registry.models import Project
from registry.models import Release
from registry.models import Repository


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _matches(header: str, etag: str) -> bool:
    # Weak comparison, as for GET: W/"x" and "x" are the same entity tag.
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


class ApiView(GenericAPIView):
    """Lookups answer 404 for anything outside the caller's organization or key limits."""

    @property
    def actor(self) -> object:
        return actor_of(self.request)

    @property
    def source_ip(self) -> str:
        return client_ip(self.request._request)

    def organization(self) -> Organization:
        return account_selectors.organization_visible(actor=self.actor, slug=self.kwargs["org"])

    def repository(self) -> Repository:
        return selectors.repository_visible(
            actor=self.actor, organization=self.organization(), slug=self.kwargs["repo"]
        )

    def project(self) -> Project:
        return selectors.project_visible(repository=self.repository(), name=self.kwargs["project"])

    def release(self) -> Release:
        return selectors.release_visible(project=self.project(), version=self.kwargs["version"])

    def paged(self, queryset: Any, serializer_class: type, **context: Any) -> Response:
        page = self.paginate_queryset(queryset)
        context = {"request": self.request, **context}
        return self.get_paginated_response(serializer_class(page, many=True, context=context).data)

    def one(
        self, instance: Any, serializer_class: type, status: int = 200, **context: Any
    ) -> Response:
        context = {"request": self.request, **context}
        return Response(serializer_class(instance, context=context).data, status=status)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Reads carry an ETag of their body; a matching If-None-Match gets 304, no body."""
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Authorization", "Cookie"])
        if request.method not in {"GET", "HEAD"} or response.status_code != 200:
            return response
        response.render()
        etag = _etag(response.content)
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        if _matches(request.headers.get("If-None-Match", ""), etag):
            not_modified = HttpResponseNotModified()
            for header in ("ETag", "Cache-Control", "Vary"):
                not_modified[header] = response[header]
            return not_modified
        return response
