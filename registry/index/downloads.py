"""File responses: a presigned redirect on S3; on local storage the bytes themselves, with
HEAD, Content-Length, Accept-Ranges and single-range 206 answers (pip resumes, uv range-reads)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import FileResponse
from django.http import HttpRequest
from django.http import HttpResponse
from django.http import HttpResponseRedirect
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from core.http import error_response
from core.http import etag_matches
from registry.storage import packages_storage
from registry.storage import presigned_download_url

# Filenames are never reused, so a file URL always names the same bytes.
FILE_CACHE_CONTROL = "private, max-age=31536000, immutable"
CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Unsatisfiable(Exception):
    """The requested range starts past the end of the file."""


def stored_file_response(
    request: HttpRequest, *, key: str, filename: str, size: int | None, etag: str, content_type: str
) -> HttpResponseBase:
    url = presigned_download_url(key)
    if url is not None:
        redirect = HttpResponseRedirect(url)
        # Never replay a redirect after its signature expires.
        redirect["Cache-Control"] = "private, no-store"
        return redirect
    storage = packages_storage()
    if size is None:
        size = storage.size(key)
    headers = {
        "ETag": etag,
        "Cache-Control": FILE_CACHE_CONTROL,
        "Accept-Ranges": "bytes",
        # pip names the download after Content-Disposition when present: the exact filename,
        # quoted by Django (filename*= for anything outside plain ASCII).
        "Content-Disposition": content_disposition_header(True, filename) or "attachment",
    }
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        return _with_headers(HttpResponse(status=304), headers)
    try:
        span = _requested_range(request, size=size, etag=etag)
    except _Unsatisfiable:
        refusal = error_response(416, f"Range not satisfiable; the file has {size} bytes.")
        refusal["Content-Range"] = f"bytes */{size}"
        return refusal
    start, end = span if span is not None else (0, size - 1)
    length = max(0, end - start + 1)
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(status=206 if span else 200, content_type=content_type)
    elif span is None:
        # The whole file goes out through the server's sendfile (wsgi.file_wrapper).
        response = FileResponse(storage.open(key, "rb"), content_type=content_type)
    else:
        fileobj = storage.open(key, "rb")
        response = StreamingHttpResponse(
            _read(fileobj, start, length), status=206 if span else 200, content_type=content_type
        )
    if span is not None:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(length)
    return _with_headers(response, headers)


def _with_headers(response: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for name, value in headers.items():
        response[name] = value
    return response


def _requested_range(request: HttpRequest, *, size: int, etag: str) -> tuple[int, int] | None:
    """(start, end) inclusive of one satisfiable range, or None for all; _Unsatisfiable for a
    range that starts past the end.

    Multiple ranges and malformed headers get the whole file, which RFC 9110 allows.
    """
    header = request.headers.get("Range", "").strip()
    match = RANGE.match(header)
    if not match or not any(match.groups()):
        return None
    if_range = request.headers.get("If-Range", "").strip()
    if if_range and if_range != etag:
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise _Unsatisfiable
    return start, end


def _read(fileobj: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    with fileobj:
        fileobj.seek(start)
        while length > 0:
            chunk = fileobj.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
