"""Repositories, projects, releases and files, and uploads through the API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import Action
from accounts.permissions import require
from api import serializers as s
from api.errors import UploadRefused
from api.views.base import ApiView
from api.views.base import needs
from registry import selectors
from registry import services
from registry.models import File
from registry.models import FileStatus
from registry.models import Repository
from registry.models import UpstreamOverride
from uploads import services as upload_services
from uploads.validation import form_fields_from_filename
from uploads.validation import parse_upload_form
from uploads.web import browser_refusal
from uploads.web import received_upload

NO_BODY = {204: None}


class RepositoryListView(ApiView):
    serializer_class = s.RepositorySerializer
    required_actions = needs(POST=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="Repositories you may read (a key: those it covers)",
        responses=s.RepositorySerializer(many=True),
    )
    def get(self, request: Request, org: str) -> Response:
        repositories = selectors.repositories_for(actor=self.actor, organization=self.organization)
        return self.paged(
            repositories,
            s.RepositorySerializer,
            prepare=lambda page: selectors.virtual_members_load(repositories=page),
        )

    @extend_schema(
        summary="Create a hosted, proxy or virtual repository (owners, admins)",
        description="A proxy takes the `upstream_*`, `cache_ttl`, `cooldown_days`, "
        "`snapshot_at` and rule settings; a virtual repository `members` and "
        "`upload_target`. A setting of another kind is refused.",
        request=s.RepositoryCreateSerializer,
        responses={201: s.RepositorySerializer},
    )
    def post(self, request: Request, org: str) -> Response:
        organization = self.organization
        body = s.RepositoryCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        repository = services.repository_create(
            organization=organization,
            actor=self.actor,
            source_ip=self.source_ip,
            **body.validated_data,
        )
        return _repository_answer(self, repository, 201)


class RepositoryView(ApiView):
    serializer_class = s.RepositorySerializer
    required_actions = needs(PATCH=Action.MANAGE_REPOSITORIES, DELETE=Action.MANAGE_REPOSITORIES)

    @extend_schema(summary="One repository, with the URLs clients use and its settings")
    def get(self, request: Request, org: str, repo: str) -> Response:
        return _repository_answer(self, self.repository)

    @extend_schema(
        summary="Rename, describe, set policies or the settings of its kind (owners, admins)",
        description="Only the fields sent change. `members` replaces a virtual repository's "
        "members, in the order given. The kind never changes. A former slug keeps answering "
        "(installers get the same content, people are redirected) until "
        "`former_slugs[].answers_until`; a new repository taking it, or renaming back, ends "
        "that sooner.",
        request=s.RepositoryUpdateSerializer,
        responses=s.RenamedRepositorySerializer,
    )
    def patch(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        body = s.RepositoryUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Only the fields sent change, in one audited update.
        repository = services.repository_update(
            repository=repository,
            actor=self.actor,
            source_ip=self.source_ip,
            **body.validated_data,
        )
        former = selectors.repository_former_slugs(repository=repository)
        repository.former_slug_list = list(former)  # type: ignore[attr-defined]
        return _repository_answer(self, repository, serializer=s.RenamedRepositorySerializer)

    @extend_schema(summary="Delete with all its files (owners, admins)", responses=NO_BODY)
    def delete(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        services.repository_delete(
            repository=repository,
            actor=self.actor,
            confirm_slug=repository.slug,
            source_ip=self.source_ip,
        )
        return Response(status=204)


def _repository_answer(
    view: ApiView,
    repository: Repository,
    status: int = 200,
    serializer: type[s.RepositorySerializer] = s.RepositorySerializer,
) -> Response:
    # A virtual repository's members and upload target in two queries, not one per member.
    selectors.virtual_members_load(repositories=[repository])
    return view.one(repository, serializer, status)


class ProxyCacheView(ApiView):
    serializer_class = s.CachedProjectSerializer
    required_actions = needs(DELETE=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="What a proxy has cached, per project",
        responses=s.CachedProjectSerializer(many=True),
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        return self.paged(
            selectors.cached_projects(repository=self.repository), s.CachedProjectSerializer
        )

    @extend_schema(
        summary="Forget everything a proxy cached (owners, admins)",
        operation_id="orgs_repos_cache_purge",
        description="The next request for each project fetches it from the upstream again.",
        request=None,
        responses={200: s.PurgeSerializer},
    )
    def delete(self, request: Request, org: str, repo: str) -> Response:
        return _purge(self, None)


class ProxyCacheProjectView(ApiView):
    serializer_class = s.PurgeSerializer
    required_actions = needs(DELETE=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="Forget what a proxy cached of one project (owners, admins)",
        operation_id="orgs_repos_cache_project_purge",
        request=None,
        responses={200: s.PurgeSerializer},
    )
    def delete(self, request: Request, org: str, repo: str, project: str) -> Response:
        return _purge(self, project)


def _purge(view: ApiView, project: str | None) -> Response:
    repository = view.repository
    count = services.proxy_purge(
        repository=repository, actor=view.actor, normalized_name=project, source_ip=view.source_ip
    )
    return Response(s.PurgeSerializer({"purged": count}).data)


class UpstreamOverrideListView(ApiView):
    serializer_class = s.UpstreamOverrideSerializer

    @extend_schema(
        summary="Names a virtual repository lists upstream versions of beside hosted ones",
        responses=s.UpstreamOverrideSerializer(many=True),
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        return self.paged(
            selectors.upstream_overrides(repository=self.repository),
            s.UpstreamOverrideSerializer,
        )


class UpstreamOverrideView(ApiView):
    serializer_class = s.UpstreamOverrideSerializer
    required_actions = needs(PUT=Action.MANAGE_REPOSITORIES, DELETE=Action.MANAGE_REPOSITORIES)

    @extend_schema(
        summary="Let upstream versions of a hosted name through (owners, admins)",
        description="By default a name any hosted member holds is answered only from hosted "
        "members (private names always win). This lists the upstream's versions too.",
        request=s.UpstreamOverrideSetSerializer,
    )
    def put(self, request: Request, org: str, repo: str, project: str) -> Response:
        body = s.UpstreamOverrideSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        override = self._set(project, allowed=True, reason=body.validated_data["reason"])
        return self.one(override, s.UpstreamOverrideSerializer)

    @extend_schema(
        summary="Go back to private names winning for this name (owners, admins)",
        request=None,
        responses=NO_BODY,
    )
    def delete(self, request: Request, org: str, repo: str, project: str) -> Response:
        self._set(project, allowed=False)
        return Response(status=204)

    def _set(self, project: str, *, allowed: bool, reason: str = "") -> UpstreamOverride | None:
        repository = self.repository
        services.upstream_override_set(
            repository=repository,
            actor=self.actor,
            name=project,
            allowed=allowed,
            reason=reason,
            source_ip=self.source_ip,
        )
        if not allowed:
            return None
        return selectors.upstream_override_for(repository=repository, name=project)


class ProjectListView(ApiView):
    serializer_class = s.ProjectSerializer

    @extend_schema(
        summary="Projects of a repository",
        responses=s.ProjectSerializer(many=True),
        parameters=[OpenApiParameter("name", str, description="Part of the normalized name.")],
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        projects = selectors.projects_of(
            repository=self.repository, name=request.query_params.get("name", "")
        )
        return self.paged(projects.order_by("normalized_name", "pk"), s.ProjectSerializer)


class ProjectView(ApiView):
    serializer_class = s.ProjectSerializer

    @extend_schema(summary="One project (any spelling of its name)")
    def get(self, request: Request, org: str, repo: str, project: str) -> Response:
        return self.one(self.project, s.ProjectSerializer)


class ProjectStatusView(ApiView):
    serializer_class = s.ProjectSerializer
    required_actions = needs(PUT=Action.YANK)

    @extend_schema(
        summary="Set the PEP 792 status: archive, quarantine, deprecate or reactivate "
        "(owners, admins, keys with the yank scope)",
        description="Installers read the status and reason from the index. An archived "
        "project refuses uploads; a quarantined one offers no file. Audited.",
        request=s.ProjectStatusSerializer,
    )
    def put(self, request: Request, org: str, repo: str, project: str) -> Response:
        body = s.ProjectStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        found = services.project_status_set(
            project=self.project,
            actor=self.actor,
            source_ip=self.source_ip,
            **body.validated_data,
        )
        return self.one(found, s.ProjectSerializer)


class ReleaseListView(ApiView):
    serializer_class = s.ReleaseSerializer

    @extend_schema(
        summary="Releases of a project, newest first", responses=s.ReleaseSerializer(many=True)
    )
    def get(self, request: Request, org: str, repo: str, project: str) -> Response:
        return self.paged(selectors.releases_of(project=self.project), s.ReleaseSerializer)


class ReleaseView(ApiView):
    serializer_class = s.ReleaseDetailSerializer
    required_actions = needs(DELETE=Action.DELETE)

    @extend_schema(summary="One release with its metadata and files")
    def get(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        release = selectors.release_with_files(release=self.release)
        return self.one(release, s.ReleaseDetailSerializer)

    @extend_schema(
        summary="Delete a release and its files, if the repository allows (owners, admins)",
        responses=NO_BODY,
    )
    def delete(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        services.release_delete(release=self.release, actor=self.actor, source_ip=self.source_ip)
        return Response(status=204)


class ReleaseYankView(ApiView):
    serializer_class = s.ReleaseSerializer
    required_actions = needs(POST=Action.YANK)

    @extend_schema(
        summary="Yank: installers skip it unless pinned exactly (owners, admins)",
        request=s.YankSerializer,
    )
    def post(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        body = s.YankSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = services.release_yank(
            release=self.release,
            reason=body.validated_data["reason"],
            actor=self.actor,
            source_ip=self.source_ip,
        )
        return self.one(release, s.ReleaseSerializer)


class ReleaseUnyankView(ApiView):
    serializer_class = s.ReleaseSerializer
    required_actions = needs(POST=Action.YANK)

    @extend_schema(summary="Undo a yank (owners, admins)", request=None)
    def post(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        release = services.release_unyank(
            release=self.release, actor=self.actor, source_ip=self.source_ip
        )
        return self.one(release, s.ReleaseSerializer)


class FileFilter(drf.Serializer):
    status = drf.ChoiceField(choices=FileStatus.choices, required=False)
    project = drf.CharField(required=False)
    version = drf.CharField(required=False)


class FileListView(ApiView):
    serializer_class = s.FileSerializer
    required_actions = needs(POST=Action.UPLOAD)
    # Documents the body; the view parses it itself, streaming and hashing (see post).
    parser_classes = (MultiPartParser,)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Refuse an upload before authentication can read its body: session authentication
        checks CSRF, which parses (and spools) the whole multipart body first. Uploads take
        an API key, and never come from a browser."""
        if request.method == "POST":
            if refusal := browser_refusal(request._request):
                raise UploadRefused(403, refusal)
            if not request.headers.get("Authorization"):
                raise NotAuthenticated("Uploads take an API key with the upload scope.")
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Files, newest first, with processing status",
        responses=s.FileSerializer(many=True),
        parameters=[FileFilter],
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        query = FileFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        files = selectors.files_of(repository=repository, **query.validated_data)
        return self.paged(files, s.FileSerializer)

    @extend_schema(
        summary="Upload a distribution (API key with the upload scope)",
        description="The same checks as the legacy upload URL. The file is `pending` until "
        "processed; poll it until `ready` (or `rejected`, with `rejection_reason`).",
        request={"multipart/form-data": s.UploadSerializer},
        responses={201: s.FileSerializer, 200: s.FileSerializer},
    )
    def post(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository
        require(self.actor, Action.UPLOAD, repository.organization, repository)
        if not isinstance(self.actor, ApiKey):
            raise UploadRefused(403, "Uploads take an API key with the upload scope.")
        # The body is read here, not by DRF's parser: streamed to disk and hashed on the way.
        with received_upload(request._request, repository) as body:
            content = body.file()
            form = form_fields_from_filename(body.filename) | {
                "sha256_digest": body.fields.get("sha256_digest") or body.digests["sha256"]
            }
            result = upload_services.upload_receive(
                repository=repository,
                api_key=self.actor,
                form=parse_upload_form(form),
                content=content,
                filename=body.filename,
                digests=body.digests,
                source_ip=self.source_ip,
            )
        return self.one(result.file, s.FileSerializer, 200 if result.duplicate else 201)


class FileView(ApiView):
    serializer_class = s.FileSerializer
    required_actions = needs(DELETE=Action.DELETE)

    def file(self) -> File:
        return selectors.file_for(repository=self.repository, filename=self.kwargs["filename"])

    @extend_schema(summary="One file: status, rejection reason, digests")
    def get(self, request: Request, org: str, repo: str, filename: str) -> Response:
        return self.one(self.file(), s.FileSerializer)

    @extend_schema(
        summary="Delete a file, if the repository allows (owners, admins)", responses=NO_BODY
    )
    def delete(self, request: Request, org: str, repo: str, filename: str) -> Response:
        services.file_delete(file=self.file(), actor=self.actor, source_ip=self.source_ip)
        return Response(status=204)
