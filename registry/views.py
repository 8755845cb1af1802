"""The simple index (PEP 503) and file downloads, for pip, uv, poetry and pdm."""

from __future__ import annotations

from django.http import FileResponse
from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_safe
from packaging.utils import canonicalize_name

from registry import selectors
from registry.access import require_repository_key
from registry.responses import error_response
from registry.storage import packages_storage
from registry.storage import presigned_download_url

METADATA_SUFFIX = ".metadata"


@require_safe
@require_repository_key()
def simple_index(request: HttpRequest) -> HttpResponse:
    projects = selectors.index_project_list(repository=request.repository)
    return render(request, "registry/simple_index.html", {"projects": projects})


@require_safe
@require_repository_key()
def simple_project(request: HttpRequest, project: str) -> HttpResponse:
    normalized = canonicalize_name(project)
    if normalized != project:
        return HttpResponseRedirect(f"../{normalized}/", status=301)
    found = selectors.project_get(repository=request.repository, normalized_name=normalized)
    if found is None:
        return error_response(404, f"Project '{project}' not found.")
    repository = request.repository
    context = {
        "project": found,
        "files": selectors.index_project_files(project=found),
        "files_base": f"/{repository.organization.slug}/{repository.slug}/files/",
    }
    return render(request, "registry/simple_project.html", context)


@require_safe
@require_repository_key()
def file_download(request: HttpRequest, sha256: str, filename: str) -> HttpResponse:
    """The distribution, or its PEP 658 core metadata at `<file URL>.metadata`."""
    wants_metadata = filename.endswith(METADATA_SUFFIX)
    if wants_metadata:
        filename = filename.removesuffix(METADATA_SUFFIX)
    file = selectors.ready_file_get(repository=request.repository, sha256=sha256, filename=filename)
    if file is None or (wants_metadata and not file.metadata_sha256):
        return error_response(404, "File not found.")
    key = file.metadata_storage_key if wants_metadata else file.storage_key
    url = presigned_download_url(key)
    if url is not None:
        response: HttpResponse = HttpResponseRedirect(url)
        # Never replay a redirect after its signature expires.
        response["Cache-Control"] = "private, no-store"
        return response
    response = FileResponse(
        packages_storage().open(key, "rb"),
        content_type="text/plain; charset=utf-8" if wants_metadata else "application/octet-stream",
    )
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
