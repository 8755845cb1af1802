"""The packages storage on S3. Only S3 deployments load this module (boto3 is large)."""

from __future__ import annotations

from typing import Any

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PackagesS3Storage(S3Storage):
    """django-storages' S3 storage, sending a file that is already on disk from its path.

    Given an open file, boto3 reads each multipart part (8 MB) into memory before sending it,
    up to ten parts at once: a web worker grew by about the size of every large upload. From
    a path, each part is read from disk as it is sent, so memory stays flat whatever the
    size. Uploads arrive as temporary files (uploads.handlers), so they always have one.
    """

    def _save(self, name: str, content: Any) -> str:
        path = _temporary_file_path(content)
        if path is None:
            return super()._save(name, content)
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        # The same parameters (content type and encoding) as the parent's save would send.
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(path, ExtraArgs=params, Config=self.transfer_config)
        return cleaned

    def _get_write_parameters(self, name: str, content: Any = None) -> dict[str, Any]:
        # Objects are served as the bytes uploaded, as downloads from a local folder are.
        # django-storages guesses from the name: a `.tar.gz` would be stored with
        # `Content-Encoding: gzip`, and a client honouring it (browsers, httpx, requests)
        # would unpack the sdist on download, bytes other than its sha256.
        params: dict[str, Any] = super()._get_write_parameters(name, content)
        params.pop("ContentEncoding", None)
        params["ContentType"] = "application/octet-stream"
        return params


def _temporary_file_path(content: Any) -> str | None:
    # Django's File wraps the uploaded file in `.file`; either may be the temporary file.
    for candidate in (content, getattr(content, "file", None)):
        path = getattr(candidate, "temporary_file_path", None)
        if callable(path):
            return str(path())
    return None
