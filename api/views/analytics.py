"""Download numbers and retention policies (the analytics app) through the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import Action
from analytics import selectors
from analytics.models import RetentionPolicy
from analytics.retention import policy_plan
from analytics.retention import retention_policy_set
from api import serializers as s
from api.views.base import ApiView
from api.views.base import needs


def _days(request: Request) -> int:
    query = s.DownloadsPeriod(data=request.query_params)
    query.is_valid(raise_exception=True)
    return int(query.validated_data["days"])


class OrganizationDownloadsView(ApiView):
    serializer_class = s.OrganizationDownloadsSerializer

    @extend_schema(
        summary="Downloads, storage and the most downloaded projects",
        description="Over the repositories the caller may read; counted every few seconds.",
        parameters=[s.DownloadsPeriod],
    )
    def get(self, request: Request, org: str) -> Response:
        numbers = selectors.organization_downloads(
            actor=self.actor, organization=self.organization, days=_days(request)
        )
        return self.one(numbers, s.OrganizationDownloadsSerializer)


class ProjectDownloadsView(ApiView):
    serializer_class = s.ProjectDownloadsSerializer

    @extend_schema(
        summary="A project's downloads per day, by version and by installer",
        parameters=[s.DownloadsPeriod],
    )
    def get(self, request: Request, org: str, repo: str, project: str) -> Response:
        numbers = selectors.project_downloads(project=self.project, days=_days(request))
        return self.one(numbers, s.ProjectDownloadsSerializer)


class RetentionPolicyView(ApiView):
    serializer_class = s.RetentionPolicySerializer
    # Setting it also needs Action.DELETE (the service checks both): it deletes on a schedule.
    required_actions = needs(PUT=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="The repository's retention policy",
        description="A repository without one answers the defaults: off, everything kept.",
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        policy = selectors.policy_of(repository=self.repository)
        return self.one(policy or RetentionPolicy(), s.RetentionPolicySerializer)

    @extend_schema(
        summary="Set the retention policy (owners, admins; keys with manage:repositories and "
        "delete)",
        request=s.RetentionPolicySerializer,
    )
    def put(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        body = s.RetentionPolicySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = retention_policy_set(
            repository=repository, actor=self.actor, source_ip=self.source_ip, **body.validated_data
        )
        return self.one(policy, s.RetentionPolicySerializer)


class RetentionDryRunView(ApiView):
    serializer_class = s.RetentionPlanSerializer

    @extend_schema(summary="Exactly the files applying the retention policy now would delete")
    def get(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        plan = policy_plan(repository=repository, policy=selectors.policy_of(repository=repository))
        return self.one(plan, s.RetentionPlanSerializer)
