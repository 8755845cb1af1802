"""Why an upload was refused, in the domain's words. The interfaces that take uploads (the
legacy endpoint and the REST API) map these to status codes in one place: uploads.web."""

from __future__ import annotations


class UploadError(Exception):
    """A refused upload: the form, filename, digests or file are not acceptable. `message`
    is one line the client shows its user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileExists(UploadError):
    """The filename is taken by other bytes. Clients recognise the message's prefix."""


class TooLarge(UploadError):
    """The file is larger than the repository accepts."""


class NotMultipart(UploadError):
    """The body is not a multipart form, so it can hold no file."""


class NoLongerSupported(UploadError):
    """An old protocol action (project pre-registration, documentation upload)."""


class ProjectNotAllowed(UploadError):
    """The key may upload to one project only (a trusted publisher's), and this is another."""


class QuotaExceeded(UploadError):
    """The file would take its organization past its storage quota."""
