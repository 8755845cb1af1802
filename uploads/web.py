"""The HTTP side of an upload, shared by the legacy endpoint and the REST API: keep browsers
out, read the multipart body (streamed to disk, hashed on the way, bounded in size) and map
refusals to status codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase

from core.http import error_response
from registry.models import Repository
from registry.quotas import size_text
from uploads.errors import FileExists
from uploads.errors import NoLongerSupported
from uploads.errors import NotMultipart
from uploads.errors import ProjectNotAllowed
from uploads.errors import QuotaExceeded
from uploads.errors import TooLarge
from uploads.errors import UploadError
from uploads.handlers import HashingUploadHandler
from uploads.handlers import RawFilenameParser

# Boundaries and part headers around the file and the form fields.
MULTIPART_OVERHEAD = 64 * 1024

STATUS: dict[type[UploadError], int] = {
    FileExists: 409,
    TooLarge: 413,
    QuotaExceeded: 413,
    NotMultipart: 415,
    NoLongerSupported: 410,
    ProjectNotAllowed: 403,
}


# Headers only browsers send. Upload clients (twine, uv, poetry, pdm, hatch, flit) send none
# of them: a request that carries one was made by a web page, which must never publish.
BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest")
BROWSER_REFUSAL = (
    "Uploads are not accepted from web browsers: publish with twine, uv, poetry, pdm, hatch "
    "or flit and an API key."
)


def browser_refusal(request: HttpRequest) -> str | None:
    """Why this request looks like a browser's (so it may not upload), or None.

    A browser that once opened an index URL with a key keeps the credentials for that realm
    and re-sends them when any other site posts a form or a fetch here (cross-site request
    forgery). Cookies on a form post mark a browser too: upload clients keep no cookies.
    """
    if any(name in request.headers for name in BROWSER_HEADERS):
        return BROWSER_REFUSAL
    form_post = request.content_type in {"multipart/form-data", "application/x-www-form-urlencoded"}
    if form_post and request.COOKIES:
        return BROWSER_REFUSAL
    return None


def refuse_browsers(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """403 before anything else, authentication included: a browser is never even asked for
    credentials here, so it has none to re-send."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and (refusal := browser_refusal(request)):
            return error_response(403, refusal)
        return view(request, *args, **kwargs)

    return wrapper


def upload_status(error: UploadError) -> int:
    """The status code a refusal is answered with; anything not listed is a bad request."""
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)


@dataclass(frozen=True)
class ReceivedUpload:
    """The form fields, and the `content` file (if one was sent) with its name as sent and
    its digests."""

    fields: QueryDict
    content: UploadedFile | None
    filename: str
    digests: dict[str, str]

    def file(self) -> UploadedFile:
        """The file, or the refusal a client gets for a form without one."""
        if self.content is None:
            raise UploadError("Upload payload does not have a file.")
        return self.content


def _too_large(repository: Repository) -> TooLarge:
    limit = repository.upload_size_limit
    if repository.upload_size_limit_source() == "organization":
        return TooLarge(
            f"File too large. Limit for organization '{repository.organization}' is "
            f"{size_text(limit)} per file (its file-size quota)."
        )
    return TooLarge(f"File too large. Limit for repository '{repository}' is {size_text(limit)}.")


@contextmanager
def received_upload(request: HttpRequest, repository: Repository) -> Iterator[ReceivedUpload]:
    """Parse the upload's body; its temporary files are removed when the block ends.

    The whole body is bounded, not only the file: a declared length above the file limit
    plus what form fields may take is refused before a byte is read, and only the `content`
    part is ever written to disk."""
    if request.content_type != "multipart/form-data":
        raise NotMultipart("Upload payload does not have a file: send multipart/form-data.")
    limit = repository.upload_size_limit
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise UploadError("Malformed upload request: invalid Content-Length.") from None
    if declared > limit + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + MULTIPART_OVERHEAD:
        raise _too_large(repository)
    handler = HashingUploadHandler(request, max_size=limit)
    parser = RawFilenameParser(request.META, request, [handler], request.encoding)
    try:
        fields, files = parser.parse()
    except MultiPartParserError as exc:
        raise UploadError(f"Malformed upload request: {exc}") from None
    try:
        if handler.exceeded:
            raise _too_large(repository)
        content = files.get("content") if "content" in handler.digests else None
        name = content.name or "" if content is not None else ""
        yield ReceivedUpload(
            fields=fields,
            content=content,
            filename=parser.raw_file_names.get(name, name),
            digests=handler.digests.get("content", {}),
        )
    finally:
        # Django closes (and so deletes) the temporary files of request.FILES; these are ours.
        for _field, uploaded in files.lists():
            for part in uploaded:
                part.close()
