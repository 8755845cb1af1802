"""The simple index (PEP 503/691), the JSON API and file downloads, for pip, uv, poetry, pdm."""

from __future__ import annotations

from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponsePermanentRedirect
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from core.http import error_response
from registry import selectors
from registry.index import negotiation
from registry.index import simple
from registry.index.access import RepositoryRequest
from registry.index.access import require_repository_key
from registry.index.downloads import stored_file_response
from registry.index.json_api import project_json_page
from registry.names import normalize_name

METADATA_SUFFIX = ".metadata"


def _media_type(request: HttpRequest) -> str:
    return negotiation.media_type_select(
        accept=request.headers.get("Accept", ""), format_param=request.GET.get("format")
    )


def _normalized_redirect(request: HttpRequest, project: str, normalized: str) -> HttpResponse:
    # Installers always send the normalized name; this is a courtesy for people.
    # The project is the last segment named so; an org or repo slug could spell it too.
    head, _, tail = request.path.rpartition(f"/{project}/")
    path = f"{head}/{normalized}/{tail}"
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{path}?{query}" if query else path)


@require_safe
@require_repository_key()
def simple_index(request: RepositoryRequest) -> HttpResponse:
    try:
        media_type = _media_type(request)
    except negotiation.NotAcceptable as exc:
        return error_response(406, str(exc))
    page = simple.index_page(repository=request.repository, media_type=media_type)
    return simple.page_response(request, page)


@require_safe
@require_repository_key()
def simple_project(request: RepositoryRequest, project: str) -> HttpResponse:
    return _project_page(request, project, media_type=None)


@require_safe
@require_repository_key()
def upload_simple_project(request: RepositoryRequest, project: str) -> HttpResponse:
    """`<upload URL>/+simple/<project>/`, devpi's layout, which `hatch publish` probes to skip
    files already uploaded. HTML whatever the Accept header: hatch scrapes the anchors."""
    return _project_page(request, project, media_type=negotiation.HTML)


def _project_page(
    request: RepositoryRequest, project: str, *, media_type: str | None
) -> HttpResponse:
    normalized = normalize_name(project)
    if normalized != project:
        return _normalized_redirect(request, project, normalized)
    if media_type is None:
        try:
            media_type = _media_type(request)
        except negotiation.NotAcceptable as exc:
            return error_response(406, str(exc))
    found = selectors.project_find(repository=request.repository, normalized_name=normalized)
    if found is None:
        return error_response(404, f"Project '{project}' not found.")
    page = simple.project_page(repository=request.repository, project=found, media_type=media_type)
    return simple.page_response(request, page)


@require_safe
@require_repository_key()
def project_json(
    request: RepositoryRequest, project: str, version: str | None = None
) -> HttpResponse:
    """Warehouse's `/pypi/<project>/json` and `/pypi/<project>/<version>/json`."""
    normalized = normalize_name(project)
    if normalized != project:
        return _normalized_redirect(request, project, normalized)
    found = selectors.project_find(repository=request.repository, normalized_name=normalized)
    if found is None:
        return error_response(404, f"Project '{project}' not found.")
    page = project_json_page(
        repository=request.repository,
        project=found,
        version=version,
        origin=f"{request.scheme}://{request.get_host()}",
    )
    if page is None:
        if version is None:  # nothing ready yet, or quarantined: no release to describe
            return error_response(404, f"Project '{found.name}' has no files to offer.")
        return error_response(404, f"Version '{version}' of '{found.name}' not found.")
    response = simple.page_response(request, page)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
@require_repository_key()
def file_download(request: RepositoryRequest, sha256: str, filename: str) -> HttpResponseBase:
    """The distribution, or its PEP 658 core metadata at `<file URL>.metadata`."""
    wants_metadata = filename.endswith(METADATA_SUFFIX)
    if wants_metadata:
        filename = filename.removesuffix(METADATA_SUFFIX)
    file = selectors.ready_file_get(repository=request.repository, sha256=sha256, filename=filename)
    if file is None or (wants_metadata and not file.metadata_sha256):
        return error_response(404, "File not found.")
    if wants_metadata:
        return stored_file_response(
            request,
            key=file.metadata_storage_key,
            filename=f"{filename}{METADATA_SUFFIX}",
            size=None,
            etag=f'"{file.metadata_sha256}"',
            content_type="text/plain; charset=utf-8",
        )
    return stored_file_response(
        request,
        key=file.storage_key,
        filename=filename,
        size=file.size,
        etag=f'"{file.sha256}"',
        content_type="application/octet-stream",
    )
