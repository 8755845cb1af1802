"""Repositories, projects, releases and files, and uploads through the API."""

from __future__ import annotations

from django.db import transaction
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import Action
from api import serializers as s
from api.errors import UploadRefused
from api.permissions import require
from api.permissions import require_person
from api.views.base import ApiView
from registry import selectors
from registry import services
from registry.models import File
from registry.models import FileStatus
from registry.models import Repository
from uploads import services as upload_services
from uploads.handlers import HashingUploadHandler
from uploads.handlers import RawFilenameParser
from uploads.validation import form_fields_from_filename
from uploads.validation import parse_upload_form

NO_BODY = {204: None}


class RepositoryListView(ApiView):
    serializer_class = s.RepositorySerializer

    @extend_schema(
        summary="Repositories you may read (a key: those it covers)",
        responses=s.RepositorySerializer(many=True),
    )
    def get(self, request: Request, org: str) -> Response:
        repositories = selectors.repositories_visible(
            actor=self.actor, organization=self.organization()
        )
        return self.paged(repositories, s.RepositorySerializer)

    @extend_schema(
        summary="Create a repository (owners, admins)", responses={201: s.RepositorySerializer}
    )
    def post(self, request: Request, org: str) -> Response:
        organization = self.organization()
        require_person(self.actor, "create repositories")
        body = s.RepositorySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            repository = services.repository_create(
                organization=organization,
                actor=request.user,
                slug=data["slug"],
                description=data["description"],
                source_ip=self.source_ip,
            )
            services.repository_set_file_deletion(
                repository=repository,
                actor=request.user,
                allow=data["allow_file_deletion"],
                source_ip=self.source_ip,
            )
        return self.one(repository, s.RepositorySerializer, 201)


class RepositoryView(ApiView):
    serializer_class = s.RepositorySerializer

    @extend_schema(summary="One repository, with the URLs clients use")
    def get(self, request: Request, org: str, repo: str) -> Response:
        return self.one(self.repository(), s.RepositorySerializer)

    @extend_schema(
        summary="Rename, describe, or set the deletion policy (owners, admins)",
        request=s.RepositoryUpdateSerializer,
    )
    def patch(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository()
        require_person(self.actor, "change repositories")
        body = s.RepositoryUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            repository = services.repository_update(
                repository=repository,
                actor=request.user,
                slug=data.get("slug", repository.slug),
                description=data.get("description", repository.description),
                source_ip=self.source_ip,
            )
            if "allow_file_deletion" in data:
                services.repository_set_file_deletion(
                    repository=repository,
                    actor=request.user,
                    allow=data["allow_file_deletion"],
                    source_ip=self.source_ip,
                )
        return self.one(repository, s.RepositorySerializer)

    @extend_schema(summary="Delete with all its files (owners, admins)", responses=NO_BODY)
    def delete(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository()
        require_person(self.actor, "delete repositories")
        services.repository_delete(
            repository=repository,
            actor=request.user,
            confirm_slug=repository.slug,
            source_ip=self.source_ip,
        )
        return Response(status=204)


class ProjectListView(ApiView):
    serializer_class = s.ProjectSerializer

    @extend_schema(
        summary="Projects of a repository",
        responses=s.ProjectSerializer(many=True),
        parameters=[OpenApiParameter("name", str, description="Part of the normalized name.")],
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        projects = selectors.projects_of(
            repository=self.repository(), name=request.query_params.get("name", "")
        )
        return self.paged(projects.order_by("normalized_name", "pk"), s.ProjectSerializer)


class ProjectView(ApiView):
    serializer_class = s.ProjectSerializer

    @extend_schema(summary="One project (any spelling of its name)")
    def get(self, request: Request, org: str, repo: str, project: str) -> Response:
        return self.one(self.project(), s.ProjectSerializer)


class ReleaseListView(ApiView):
    serializer_class = s.ReleaseSerializer

    @extend_schema(
        summary="Releases of a project, newest first", responses=s.ReleaseSerializer(many=True)
    )
    def get(self, request: Request, org: str, repo: str, project: str) -> Response:
        return self.paged(selectors.releases_of(project=self.project()), s.ReleaseSerializer)


class ReleaseView(ApiView):
    serializer_class = s.ReleaseDetailSerializer

    @extend_schema(summary="One release with its metadata and files")
    def get(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        return self.one(self.release(), s.ReleaseDetailSerializer)

    @extend_schema(
        summary="Delete a release and its files, if the repository allows (owners, admins)",
        responses=NO_BODY,
    )
    def delete(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        release = self.release()
        repository = release.project.repository
        require(self.actor, Action.YANK_DELETE, repository.organization, repository)
        services.release_delete(release=release, actor=self.actor, source_ip=self.source_ip)
        return Response(status=204)


class ReleaseYankView(ApiView):
    serializer_class = s.ReleaseSerializer

    @extend_schema(
        summary="Yank: installers skip it unless pinned exactly (owners, admins)",
        request=s.YankSerializer,
    )
    def post(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        release = self.release()
        repository = release.project.repository
        require(self.actor, Action.YANK_DELETE, repository.organization, repository)
        body = s.YankSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = services.release_yank(
            release=release,
            reason=body.validated_data["reason"],
            actor=self.actor,
            source_ip=self.source_ip,
        )
        return self.one(release, s.ReleaseSerializer)


class ReleaseUnyankView(ApiView):
    serializer_class = s.ReleaseSerializer

    @extend_schema(summary="Undo a yank (owners, admins)", request=None)
    def post(self, request: Request, org: str, repo: str, project: str, version: str) -> Response:
        release = self.release()
        repository = release.project.repository
        require(self.actor, Action.YANK_DELETE, repository.organization, repository)
        release = services.release_unyank(
            release=release, actor=self.actor, source_ip=self.source_ip
        )
        return self.one(release, s.ReleaseSerializer)


class FileFilter(drf.Serializer):
    status = drf.ChoiceField(choices=FileStatus.choices, required=False)
    project = drf.CharField(required=False)
    version = drf.CharField(required=False)


class FileListView(ApiView):
    serializer_class = s.FileSerializer
    # Documents the body; the view parses it itself, streaming and hashing (see post).
    parser_classes = (MultiPartParser,)

    @extend_schema(
        summary="Files, newest first, with processing status",
        responses=s.FileSerializer(many=True),
        parameters=[FileFilter],
    )
    def get(self, request: Request, org: str, repo: str) -> Response:
        repository = self.repository()
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
        repository = self.repository()
        require(self.actor, Action.UPLOAD, repository.organization, repository)
        if not isinstance(self.actor, ApiKey):
            raise UploadRefused(403, "Uploads take an API key with the upload scope.")
        return self._receive(request, repository)

    def _receive(self, request: Request, repository: Repository) -> Response:
        """Parse the body as the legacy endpoint does: streamed to disk, hashed on the way."""
        django_request = request._request
        if django_request.content_type != "multipart/form-data":
            raise UploadRefused(415, "Send the file as multipart/form-data, field 'content'.")
        handler = HashingUploadHandler(django_request, max_size=repository.upload_size_limit)
        parser = RawFilenameParser(
            django_request.META, django_request, [handler], django_request.encoding
        )
        try:
            fields, files = parser.parse()
        except MultiPartParserError as exc:
            raise UploadRefused(400, f"Malformed upload request: {exc}") from None
        try:
            if handler.exceeded:
                raise UploadRefused(413, f"File too large for repository '{repository}'.")
            content = files.get("content")
            if content is None or "content" not in handler.digests:
                raise UploadRefused(400, "The request has no file in the 'content' field.")
            filename = parser.raw_file_names.get(content.name or "", content.name or "")
            digests = handler.digests["content"]
            form = form_fields_from_filename(filename) | {
                "sha256_digest": fields.get("sha256_digest") or digests["sha256"]
            }
            result = upload_services.upload_receive(
                repository=repository,
                api_key=self.actor,
                form=parse_upload_form(form),
                content=content,
                filename=filename,
                digests=digests,
                source_ip=self.source_ip,
            )
        finally:
            for uploaded in files.values():
                uploaded.close()
        return self.one(result.file, s.FileSerializer, 200 if result.duplicate else 201)


class FileView(ApiView):
    serializer_class = s.FileSerializer

    def file(self) -> File:
        return selectors.file_visible(
            repository=self.repository(), filename=self.kwargs["filename"]
        )

    @extend_schema(summary="One file: status, rejection reason, digests")
    def get(self, request: Request, org: str, repo: str, filename: str) -> Response:
        return self.one(self.file(), s.FileSerializer)

    @extend_schema(
        summary="Delete a file, if the repository allows (owners, admins)", responses=NO_BODY
    )
    def delete(self, request: Request, org: str, repo: str, filename: str) -> Response:
        file = self.file()
        repository = file.repository
        require(self.actor, Action.YANK_DELETE, repository.organization, repository)
        services.file_delete(file=file, actor=self.actor, source_ip=self.source_ip)
        return Response(status=204)
