"""Streams an upload's file to a temporary file, hashing it and enforcing a size cap."""

from __future__ import annotations

import hashlib
import html
from typing import Any
from typing import Protocol

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Hashes each chunk as it arrives, so the file is read exactly once.

    Only the file part named `field` is kept: any other file part is skipped unread to disk.
    Its digests are kept in `digests` by field name. Past `max_size` bytes, counted across
    every file part of the request, the upload stops and `exceeded` is set; the rest of the
    body is drained so the client still reads our answer instead of a reset connection.
    """

    def __init__(self, *args: Any, max_size: int, field: str = "content", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_size = max_size
        self.field = field
        self.exceeded = False
        self.size = 0
        self.skipping = False
        self.digests: dict[str, dict[str, str]] = {}

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        # Parts nobody reads are not written anywhere; a second `content` neither. (Not
        # SkipFile: Django then closes every file of the request, `content` included.)
        self.skipping = field_name != self.field or field_name in self.digests
        if self.skipping:
            self.field_name = field_name
            return
        super().new_file(field_name, *args, **kwargs)
        self.hashes: dict[str, _Hash] = {
            "md5": hashlib.md5(usedforsecurity=False),
            "sha256": hashlib.sha256(),
            "blake2_256": hashlib.blake2b(digest_size=32),
        }

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.skipping:
            return None
        self.size += len(raw_data)
        if self.size > self.max_size:
            self.exceeded = True
            self.file.close()
            raise StopUpload(connection_reset=False)
        for h in self.hashes.values():
            h.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.skipping:
            return None
        self.digests[self.field_name] = {name: h.hexdigest() for name, h in self.hashes.items()}
        return super().file_complete(file_size)


class RawFilenameParser(MultiPartParser):
    """Django strips separators and control characters from upload filenames. The upload rules
    refuse such names with a reason instead of storing a silently renamed file, so this keeps
    what the client sent, keyed by the name Django made of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw_file_names: dict[str, str] = {}

    def sanitize_file_name(self, file_name: str) -> str | None:
        sanitized = super().sanitize_file_name(file_name)
        # A name Django would drop entirely is kept under a placeholder, so it gets its reason.
        key = sanitized or "unnamed"
        self.raw_file_names[key] = html.unescape(file_name)
        return key
