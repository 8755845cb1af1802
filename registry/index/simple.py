"""Simple repository pages (PEP 503/592/629/658/691/700/714/792), rendered once per change.

A page is a pure function of its project's (or repository's) serial and its media type, so
it is rendered once, kept in Django's cache under that serial, and tagged with a strong ETag
built from it. In the steady state a request costs no query at all (registry.index.hot).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from html import escape

from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponseNotModified

from core.cache import DEFAULT
from core.cache import guarded
from core.http import etag_matches
from registry.index import negotiation
from registry.listings import Listing
from registry.models import Repository
from registry.selectors import IndexFile

API_VERSION = "1.4"
# Revalidate every time: a fresh upload must show up on the very next install, also for
# pip >= 26.2, which honours max-age on index pages. A 304 makes revalidation cheap.
PAGE_CACHE_CONTROL = "private, max-age=0, must-revalidate"
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    etag: str


def files_base(repository: Repository) -> str:
    return f"/{repository.organization.slug}/{repository.slug}/files/"


def index_page(*, names: list[tuple[str, str]], tag: str, media_type: str) -> Page:
    return _cached(tag, media_type, lambda: _render_index(names, media_type))


def project_page(*, repository: Repository, listing: Listing, media_type: str) -> Page:
    return _cached(
        listing.tag, media_type, lambda: _render_project(repository, listing, media_type)
    )


STALE_HEADER = "X-Upstream-Stale"


def page_response(request: HttpRequest, page: Page, *, stale: str = "") -> HttpResponse:
    """The page, or 304 when the client already holds this exact version. `stale` says why
    an upstream could not confirm what the page lists (served from the cache anyway)."""
    if etag_matches(request.headers.get("If-None-Match", ""), page.etag):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(page.body, content_type=page.content_type)
    response["ETag"] = page.etag
    response["Cache-Control"] = PAGE_CACHE_CONTROL
    response["Vary"] = "Accept"
    if stale:
        response[STALE_HEADER] = stale.replace("\n", " ")[:500]
    return response


def _cached(tag: str, media_type: str, render: Callable[[], bytes]) -> Page:
    short = {negotiation.V1_JSON: "json", negotiation.V1_HTML: "v1html"}.get(media_type, "html")
    json_type = media_type == negotiation.V1_JSON
    content_type = media_type if json_type else f"{media_type}; charset=utf-8"
    return cached_page(f"{tag}.{short}", content_type, render)


def page_cache_key(tag: str) -> str:
    return f"simple:{tag}"


def cached_page(tag: str, content_type: str, render: Callable[[], bytes]) -> Page:
    """The body cached under `tag`, rendered on a miss (and while the cache is out). `tag`
    must name the content exactly."""
    key = page_cache_key(tag)
    body = guarded(DEFAULT, lambda cache: cache.get(key), None)
    if body is None:
        body = render()
        guarded(DEFAULT, lambda cache: cache.set(key, body, CACHE_SECONDS), None)
    return Page(body=body, content_type=content_type, etag=f'"{tag}"')


def upload_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _render_index(projects: list[tuple[str, str]], media_type: str) -> bytes:
    if media_type == negotiation.V1_JSON:
        data = {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": n} for n, _ in projects],
        }
        return json.dumps(data, separators=(",", ":")).encode()
    links = "".join(
        f'    <a href="{escape(normalized)}/">{escape(name)}</a><br>\n'
        for name, normalized in projects
    )
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>Simple index</title>\n  </head>\n  <body>\n{links}  </body>\n</html>\n"
    ).encode()


def _render_project(repository: Repository, listing: Listing, media_type: str) -> bytes:
    base = files_base(repository)
    if media_type == negotiation.V1_JSON:
        return _project_json(listing, base)
    return _project_html(listing, base)


def _project_json(listing: Listing, base: str) -> bytes:
    files = listing.files
    status: dict[str, str] = {"status": listing.status}
    if listing.status_reason:
        status["reason"] = listing.status_reason
    meta: dict[str, object] = {"api-version": API_VERSION}
    if listing.tracks:
        meta["tracks"] = list(listing.tracks)
    data: dict[str, object] = {
        "meta": meta,
        "name": listing.normalized_name,
        "versions": list(dict.fromkeys(f.version for f in files)),
        "files": [_file_json(f, base) for f in files],
        "project-status": status,
    }
    if listing.alternate_locations:
        data["alternate-locations"] = list(listing.alternate_locations)
    return json.dumps(data, separators=(",", ":")).encode()


def _file_json(file: IndexFile, base: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": file.filename,
        "url": f"{base}{file.sha256}/{file.filename}",
        "hashes": {"sha256": file.sha256},
        "requires-python": file.requires_python or None,
        "yanked": (file.yanked_reason or True) if file.yanked else False,
        # PEP 714: never the old `dist-info-metadata` key, which older pips choke on.
        "core-metadata": {"sha256": file.metadata_sha256} if file.metadata_sha256 else False,
    }
    # Only an upstream that does not say leaves these unknown; we never make them up.
    if file.size is not None:
        entry["size"] = file.size
    if file.uploaded_at is not None:
        entry["upload-time"] = upload_time(file.uploaded_at)
    return entry


def _project_html(listing: Listing, base: str) -> bytes:
    head = [
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f'    <meta name="pypi:project-status" content="{escape(listing.status)}">',
    ]
    if listing.status_reason:
        reason = escape(listing.status_reason)
        head.append(f'    <meta name="pypi:project-status-reason" content="{reason}">')
    head += [f'    <meta name="pypi:tracks" content="{escape(u)}">' for u in listing.tracks]
    head += [
        f'    <meta name="pypi:alternate-locations" content="{escape(u)}">'
        for u in listing.alternate_locations
    ]
    name = escape(listing.name)
    anchors = "".join(_file_anchor(f, base) for f in listing.files)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n" + "\n".join(head) + "\n"
        f"    <title>Links for {name}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {name}</h1>\n{anchors}  </body>\n</html>\n"
    ).encode()


def _file_anchor(file: IndexFile, base: str) -> str:
    # One element per file, filename as its only text: hatch scrapes `<a [^>]+>([^<]+)</a>`.
    attrs = [f'href="{escape(base + file.sha256 + "/" + file.filename)}#sha256={file.sha256}"']
    if file.requires_python:
        attrs.append(f'data-requires-python="{escape(file.requires_python)}"')
    if file.yanked:
        attrs.append(f'data-yanked="{escape(file.yanked_reason)}"')
    if file.metadata_sha256:
        value = f"sha256={file.metadata_sha256}"
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    # Not in PEP 700's HTML form, but uv reads them (and needs upload times for exclude-newer).
    if file.size is not None:
        attrs.append(f'data-size="{file.size}"')
    if file.uploaded_at is not None:
        attrs.append(f'data-upload-time="{upload_time(file.uploaded_at)}"')
    return f"    <a {' '.join(attrs)}>{escape(file.filename)}</a><br>\n"
