"""A repository's trusted publishers: the CI identities that may exchange their OIDC token
for a 15-minute upload key (the exchange itself is at /_/oidc/, publishing.views)."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import Action
from api import serializers as s
from api.views.base import ApiView
from api.views.base import needs
from publishing import selectors
from publishing import services


class TrustedPublisherListView(ApiView):
    serializer_class = s.TrustedPublisherSerializer
    required_actions = needs(GET=Action.MANAGE_REPOSITORIES, POST=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="Trusted publishers of a repository (owners, admins)",
        responses=s.TrustedPublisherSerializer(many=True),
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        publishers = selectors.publishers_of(actor=self.actor, repository=self.repository)
        return self.paged(publishers, s.TrustedPublisherSerializer)

    @extend_schema(
        summary="Trust a CI identity to publish here (owners, admins)",
        description="`github`: `ci_repository` (owner/name), `workflow` (its filename), optional "
        "`environment`, `owner_id`, `ci_repository_id` (else recorded at first use). `gitlab`: "
        "`ci_repository` (namespace/project), `workflow` (CI configuration path), optional "
        "`environment` and `issuer`. `oidc`: `issuer`, `required_claims` (at least one), "
        "optional `audience`. `project` limits uploads to one project.",
        request=PolymorphicProxySerializer(
            component_name="TrustedPublisherCreate",
            serializers=s.PUBLISHER_CREATE_SERIALIZERS,
            resource_type_field_name="kind",
        ),
        responses={201: s.TrustedPublisherSerializer},
    )
    def post(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        # The kind first: it says which fields the rest of the body needs.
        kind = s.PublisherKindSerializer(data=request.data)
        kind.is_valid(raise_exception=True)
        body = s.PUBLISHER_CREATE_BODIES[kind.validated_data["kind"]](data=request.data)
        body.is_valid(raise_exception=True)
        publisher = services.publisher_create(
            repository=repository,
            actor=self.actor,
            source_ip=self.source_ip,
            **body.validated_data,
        )
        return self.one(publisher, s.TrustedPublisherSerializer, 201)


class TrustedPublisherView(ApiView):
    serializer_class = s.TrustedPublisherSerializer
    required_actions = needs(GET=Action.MANAGE_REPOSITORIES, DELETE=Action.MANAGE_REPOSITORIES)

    @extend_schema(summary="One trusted publisher (owners, admins)")
    def get(self, request: Request, org: str, repo: str, publisher_id: int) -> Response:
        publisher = selectors.publisher_for(
            actor=self.actor, repository=self.repository, publisher_id=publisher_id
        )
        return self.one(publisher, s.TrustedPublisherSerializer)

    @extend_schema(
        summary="Stop trusting it; keys it minted expire within 15 minutes (owners, admins)",
        responses={204: None},
    )
    def delete(self, request: Request, org: str, repo: str, publisher_id: int) -> Response:
        publisher = selectors.publisher_for(
            actor=self.actor, repository=self.repository, publisher_id=publisher_id
        )
        services.publisher_delete(publisher=publisher, actor=self.actor, source_ip=self.source_ip)
        return Response(status=204)
