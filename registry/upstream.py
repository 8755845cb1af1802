"""Talking to an upstream simple index (PyPI, or any PEP 503/691 index): one project page at a
time, revalidated with its validators, and one file at a time, streamed and hash-checked.

No database and no storage here: `registry.proxy` decides when to call and what to keep.
Every call is bounded by the timeouts below; every failure is an `UpstreamError` naming the
upstream and the cause in one line, with the status the index answers its client (502, or
504 for a timeout).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import IO
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import certifi
import httpx
from django.conf import settings
from pypi_simple import ProjectPage
from pypi_simple import UnsupportedRepoVersionError

from registry.names import distribution_of

# PEP 691 JSON preferred; HTML understood (older indexes, devpi, Artifactory).
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
USER_AGENT = "Wheelhouse-proxy/1"
CHUNK = 256 * 1024


class UpstreamError(Exception):
    """The upstream could not answer: `status` is what our client gets (502 or 504)."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """An upstream project page: `entries` is None when the upstream said 304 (unchanged);
    `found` is False when it said 404."""

    found: bool
    name: str
    entries: list[dict[str, Any]] | None
    etag: str
    last_modified: str


@dataclass(frozen=True)
class Upstream:
    url: str
    username: str = ""
    password: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.rpartition("@")[2]

    def project_url(self, normalized_name: str) -> str:
        return urljoin(
            self.url if self.url.endswith("/") else f"{self.url}/", f"{normalized_name}/"
        )

    def _client(self) -> httpx.Client:
        auth = (self.username, self.password) if self.username or self.password else None
        timeout = httpx.Timeout(
            settings.UPSTREAM_TIMEOUT, connect=settings.UPSTREAM_CONNECT_TIMEOUT
        )
        return httpx.Client(
            auth=auth,
            verify=_tls_context(),
            timeout=timeout,
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": USER_AGENT},
        )

    def project_fetch(
        self, normalized_name: str, *, etag: str = "", last_modified: str = ""
    ) -> Fetched:
        """The project's page as entries, or unchanged (304), or not found (404)."""
        url = self.project_url(normalized_name)
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with (
            self._client() as client,
            self._errors(normalized_name),
            client.stream("GET", url, headers=headers) as response,
        ):
            # Read within the page deadline and size bound: httpx's timeouts bound each read,
            # not an upstream dripping a byte at a time, nor an endless body.
            body = bytearray()
            for chunk in self._within(
                response, settings.UPSTREAM_TIMEOUT, what=f"'{normalized_name}'"
            ):
                body += chunk
                if len(body) > settings.UPSTREAM_MAX_PAGE_SIZE:
                    raise UpstreamError(
                        f"Upstream {self.host} sent a page for '{normalized_name}' larger than "
                        f"{settings.UPSTREAM_MAX_PAGE_SIZE} bytes."
                    )
        validators = {
            "etag": response.headers.get("ETag", "")[:500],
            "last_modified": response.headers.get("Last-Modified", "")[:100],
        }
        if response.status_code == 304:
            return Fetched(found=True, name=normalized_name, entries=None, **validators)
        if response.status_code in (404, 410):
            return Fetched(found=False, name=normalized_name, entries=[], **validators)
        if response.status_code != 200:
            raise UpstreamError(
                f"Upstream {self.host} answered {response.status_code} for '{normalized_name}'."
            )
        page = self._parse(normalized_name, response, bytes(body))
        entries = [e for e in (_entry(p) for p in page.packages) if e is not None]
        name = page.project or normalized_name
        return Fetched(found=True, name=name, entries=entries, **validators)

    def _parse(self, normalized_name: str, response: httpx.Response, body: bytes) -> ProjectPage:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        base = str(response.url)
        try:
            if content_type == "application/vnd.pypi.simple.v1+json":
                return ProjectPage.from_json_data(json.loads(body), base_url=base)
            if content_type in ("text/html", "application/vnd.pypi.simple.v1+html"):
                page = ProjectPage.from_html(normalized_name, body, base_url=base)
                # An empty page is still a page; a body without any markup is not.
                if not page.packages and not re.search(rb"<(a|html|body)[\s>]", body, re.I):
                    raise ValueError("no links and no markup")
                return page
        except UnsupportedRepoVersionError as exc:
            raise UpstreamError(
                f"Upstream {self.host} speaks an unsupported repository version ({exc})."
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise UpstreamError(
                f"Upstream {self.host} sent an unreadable page for '{normalized_name}'."
            ) from exc
        raise UpstreamError(
            f"Upstream {self.host} sent '{content_type or 'no content type'}' for "
            f"'{normalized_name}', not a simple index page."
        )

    def download(self, url: str, *, sha256: str, what: str) -> IO[bytes]:
        """The bytes at `url` in a temporary file, only if their sha256 is `sha256`."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
        digest = hashlib.sha256()
        try:
            with (
                self._client() as client,
                self._errors(what),
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise UpstreamError(
                        f"Upstream {self.host} answered {response.status_code} for {what}."
                    )
                for chunk in self._within(response, settings.UPSTREAM_FILE_TIMEOUT, what=what):
                    digest.update(chunk)
                    spool.write(chunk)
            if digest.hexdigest() != sha256:
                raise UpstreamError(
                    f"Upstream {self.host} sent {what} with sha256 {digest.hexdigest()}, "
                    f"not the {sha256} its index lists; it was not stored."
                )
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _within(self, response: httpx.Response, seconds: int, *, what: str) -> Iterator[bytes]:
        """The body's chunks, or a 504 UpstreamError once `seconds` have passed in all."""
        deadline = time.monotonic() + seconds
        for chunk in response.iter_bytes(CHUNK):
            if time.monotonic() > deadline:
                raise UpstreamError(
                    f"Upstream {self.host} timed out for {what} (more than {seconds} s).",
                    status=504,
                )
            yield chunk

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """httpx's failures as one-line UpstreamErrors naming the upstream and the cause."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"Upstream {self.host} timed out for {what}.", status=504) from exc
        except httpx.HTTPError as exc:
            # The class and the first words of the reason ("ConnectError: [SSL:
            # CERTIFICATE_VERIFY_FAILED] ...", "... Name or service not known"), on one line.
            detail = " ".join(str(exc).split())[:160]
            cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            raise UpstreamError(
                f"Upstream {self.host} is unreachable for {what} ({cause})."
            ) from exc


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms; a new client per fetch shares this one context.
    # UPSTREAM_CA_BUNDLE names another bundle (a company's TLS-inspecting proxy, a private
    # upstream's own CA); the default is certifi's, as httpx's own.
    return ssl.create_default_context(cafile=settings.UPSTREAM_CA_BUNDLE or certifi.where())


def _entry(package: Any) -> dict[str, Any] | None:
    """One index entry as stored in CachedProject.files, or None for a file we cannot offer:
    no sha256 to verify it against, or not a wheel or sdist filename."""
    sha256 = (package.digests or {}).get("sha256", "").lower()
    if len(sha256) != 64:
        return None
    distribution = distribution_of(package.filename)
    if distribution is None:
        return None
    uploaded: datetime | None = package.upload_time
    return {
        "filename": package.filename,
        "url": package.url.split("#", 1)[0],
        "sha256": sha256,
        "size": package.size,
        "upload_time": uploaded.astimezone(UTC).isoformat() if uploaded else None,
        "requires_python": package.requires_python or "",
        "yanked": bool(package.is_yanked),
        "yanked_reason": package.yanked_reason or "",
        "metadata_sha256": (package.metadata_digests or {}).get("sha256", "")
        if package.has_metadata
        else "",
        "version": distribution[1],
    }


def project_of(filename: str) -> str | None:
    """The normalized project name a distribution filename names, or None."""
    distribution = distribution_of(filename)
    return distribution[0] if distribution else None
