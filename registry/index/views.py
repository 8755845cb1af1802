"""The simple index (PEP 503/691), the JSON API and file downloads, for pip, uv, poetry, pdm."""

from __future__ import annotations

from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponsePermanentRedirect
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from core import downloads
from core.http import error_response
from registry import listings
from registry.index import hot
from registry.index import negotiation
from registry.index import simple
from registry.index.access import RepositoryRequest
from registry.index.access import require_repository_key
from registry.index.downloads import stored_file_response
from registry.index.json_api import project_json_page
from registry.names import normalize_name
from registry.proxy import ProxyUnavailable

METADATA_SUFFIX = ".metadata"
# A file served (200) or a redirect to it in S3 (302).
COUNTED_STATUSES = frozenset({200, 302})


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
    gen, repository = request.generations, request.repository
    kept = hot.page_get(gen, repository=repository, name=None, media=media_type)
    if isinstance(kept, simple.Page):
        return simple.page_response(request, kept)
    names, tag = listings.index_names(repository=repository)
    page = simple.index_page(names=names, tag=tag, media_type=media_type)
    hot.page_put(gen, repository=repository, name=None, media=media_type, page=page, fresh_for=None)
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
    gen, repository = request.generations, request.repository
    kept = hot.page_get(gen, repository=repository, name=normalized, media=media_type)
    if kept == hot.ABSENT:
        return error_response(404, f"Project '{project}' not found.")
    if isinstance(kept, simple.Page):
        return simple.page_response(request, kept)
    try:
        listing = listings.project_listing(repository=repository, normalized_name=normalized)
    except ProxyUnavailable as exc:
        return error_response(exc.status, str(exc))
    found: simple.Page | str = hot.ABSENT
    fresh_for = listings.absence_fresh_for(repository=repository)
    if listing is not None:
        found = simple.project_page(repository=repository, listing=listing, media_type=media_type)
        fresh_for = 0 if listing.stale else listing.fresh_for
    hot.page_put(
        gen, repository=repository, name=normalized, media=media_type, page=found,
        fresh_for=fresh_for,
    )  # fmt: skip
    if listing is None or not isinstance(found, simple.Page):
        return error_response(404, f"Project '{project}' not found.")
    return simple.page_response(request, found, stale=listing.stale)


@require_safe
@require_repository_key()
def project_json(
    request: RepositoryRequest, project: str, version: str | None = None
) -> HttpResponse:
    """Warehouse's `/pypi/<project>/json` and `/pypi/<project>/<version>/json`: hosted
    projects only (a virtual repository answers from its hosted members); upstream projects
    are described by their own index."""
    normalized = normalize_name(project)
    if normalized != project:
        return _normalized_redirect(request, project, normalized)
    found = listings.described_project(repository=request.repository, normalized_name=normalized)
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
@require_repository_key(session=True)
def file_download(request: RepositoryRequest, sha256: str, filename: str) -> HttpResponseBase:
    """The distribution, or its PEP 658 core metadata at `<file URL>.metadata`.

    A logged-in person may download too, by the project page's links, with no key: the same
    access rule (repository_for: a non-member finds nothing) and the same storage path (a
    presigned S3 redirect in production). Session cookies are SameSite=Lax, so another
    site cannot make a browser fetch a file with them."""
    gen, repository, asked = request.generations, request.repository, filename
    wants_metadata = filename.endswith(METADATA_SUFFIX)
    if wants_metadata:
        filename = filename.removesuffix(METADATA_SUFFIX)
    stored = hot.stored_get(gen, repository=repository, sha256=sha256, filename=asked)
    if stored is None:
        try:
            stored = listings.file_stored(
                repository=repository, sha256=sha256, filename=filename, metadata=wants_metadata
            )
        except listings.Refused as exc:
            return error_response(exc.status, str(exc))
        hot.stored_put(gen, repository=repository, sha256=sha256, filename=asked, stored=stored)
    if wants_metadata:
        response = stored_file_response(
            request,
            key=stored.key,
            filename=f"{filename}{METADATA_SUFFIX}",
            size=None,
            etag=f'"{stored.sha256}"',
            content_type="text/plain; charset=utf-8",
        )
    else:
        response = stored_file_response(
            request,
            key=stored.key,
            filename=filename,
            size=stored.size,
            etag=f'"{stored.sha256}"',
            content_type="application/octet-stream",
        )
    # Whole downloads only: a HEAD, a revalidation (304) or a range (a resumed download, uv
    # reading a wheel's tail) is not another install. In memory; no query (core.downloads).
    if request.method == "GET" and response.status_code in COUNTED_STATUSES:
        downloads.record(
            organization_id=repository.organization_id,
            repository_id=stored.repository_id,
            filename=asked,
            key_id=request.api_key.pk if request.api_key is not None else 0,
            user_agent=request.headers.get("User-Agent", ""),
        )
    return response
