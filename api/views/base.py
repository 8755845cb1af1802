"""What every API view shares: who is calling, tenant lookups, pages, ETags."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from collections.abc import Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any
from typing import ClassVar

from django.db.models import QuerySet
from django.utils.cache import patch_vary_headers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts import selectors as account_selectors
from accounts.models import Organization
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import Actor
from api.permissions import actor_of
from core.http import etag_matches
from registry import selectors
from registry.models import Project
from registry.models import Release
from registry.models import Repository


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def needs(**actions: Action | None) -> Mapping[str, Action | None]:
    """An ApiView's `required_actions`, by method: `needs(POST=Action.MANAGE_KEYS)`."""
    return MappingProxyType(actions)


class ApiView(GenericAPIView):
    """Lookups answer 404 for anything outside the caller's organization or key limits.

    Each lookup runs once per request (a view instance serves one request) and the objects
    below it reuse the ones above: a release knows its project, repository and organization.
    """

    # The action each method needs, by HTTP method; reads need READ unless listed. None: no
    # key may do it, only a person. The services check it (can()); this says it, in the
    # schema (api.schema), and the access matrix holds both to the same answer.
    required_actions: ClassVar[Mapping[str, Action | None]] = needs()

    @classmethod
    def required_action(cls, method: str) -> Action | None:
        if method in cls.required_actions:
            return cls.required_actions[method]
        if method in {"GET", "HEAD"}:
            return Action.READ
        raise LookupError(f"{cls.__name__} says nothing of what {method} needs.")

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)

    @property
    def source_ip(self) -> str:
        return client_ip(self.request._request)

    @cached_property
    def organization(self) -> Organization:
        # Scripts are configured clients too: a former slug answers as the current one.
        return account_selectors.organization_for(
            actor=self.actor, slug=self.kwargs["org"], follow_renames=True
        )

    @cached_property
    def repository(self) -> Repository:
        repository = selectors.repository_for(
            actor=self.actor, org=self.kwargs["org"], repo=self.kwargs["repo"], follow_renames=True
        )
        self.__dict__["organization"] = repository.organization
        return repository

    @cached_property
    def project(self) -> Project:
        project = selectors.project_for(repository=self.repository, name=self.kwargs["project"])
        project.repository = self.repository
        return project

    @cached_property
    def release(self) -> Release:
        return selectors.release_for(project=self.project, version=self.kwargs["version"])

    def paged(
        self,
        queryset: QuerySet[Any],
        serializer_class: type[BaseSerializer[Any]],
        prepare: Callable[[list[Any]], None] | None = None,
        **context: Any,
    ) -> Response:
        """One page of `queryset`; `prepare` loads what the page's items need in bulk."""
        page = self.paginate_queryset(queryset)
        if prepare is not None and page is not None:
            prepare(page)
        context = {"request": self.request, **context}
        return self.get_paginated_response(serializer_class(page, many=True, context=context).data)

    def one(
        self,
        instance: Any,
        serializer_class: type[BaseSerializer[Any]],
        status: int = 200,
        **context: Any,
    ) -> Response:
        context = {"request": self.request, **context}
        return Response(serializer_class(instance, context=context).data, status=status)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        """Reads carry an ETag of their body; a matching If-None-Match gets 304, no body."""
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Authorization", "Cookie"])
        if request.method not in {"GET", "HEAD"} or response.status_code != 200:
            return response
        response.render()
        etag = _etag(response.content)
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            # The same response, emptied into a 304 (as Django's ConditionalGetMiddleware).
            response.status_code = 304
            response.content = b""
            for header in ("Content-Type", "Content-Length"):
                if header in response:
                    del response[header]
        return response
