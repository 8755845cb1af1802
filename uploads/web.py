"""The HTTP side of an upload, shared by the legacy endpoint and the REST API: read the
multipart body (streamed to disk, hashed on the way, bounded in size) and map refusals to
status codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError

from registry.models import Repository
from uploads.errors import FileExists
from uploads.errors import NoLongerSupported
from uploads.errors import NotMultipart
from uploads.errors import TooLarge
from uploads.errors import UploadError
from uploads.handlers import HashingUploadHandler
from uploads.handlers import RawFilenameParser

STATUS: dict[type[UploadError], int] = {
    FileExists: 409,
    TooLarge: 413,
    NotMultipart: 415,
    NoLongerSupported: 410,
}


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


def size_text(limit: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if limit >= scale:
            return f"{limit / scale:.4g} {unit}"
    return f"{limit} bytes"


@contextmanager
def received_upload(request: HttpRequest, repository: Repository) -> Iterator[ReceivedUpload]:
    """Parse the upload's body; its temporary files are removed when the block ends."""
    if request.content_type != "multipart/form-data":
        raise NotMultipart("Upload payload does not have a file: send multipart/form-data.")
    limit = repository.upload_size_limit
    handler = HashingUploadHandler(request, max_size=limit)
    parser = RawFilenameParser(request.META, request, [handler], request.encoding)
    try:
        fields, files = parser.parse()
    except MultiPartParserError as exc:
        raise UploadError(f"Malformed upload request: {exc}") from None
    try:
        if handler.exceeded:
            raise TooLarge(
                f"File too large. Limit for repository '{repository}' is {size_text(limit)}."
            )
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
