"""A local upstream simple index (PEP 503, 691, 658, 700) for proxy and virtual repository tests.

`Upstream` serves an in-memory catalogue over real HTTP on 127.0.0.1, in this process, and
lets a test make it misbehave: slow, failing, garbled, password-protected, stopped, or
serving files that do not match their advertised sha256. It records every request it gets.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import html
import io
import json
import socketserver
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import TracebackType
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from packaging.metadata import parse_email
from packaging.utils import NormalizedName
from packaging.utils import canonicalize_name
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
API_VERSION = "1.1"
# Media ranges that ask for each form. Wildcards count for HTML only, so a client naming no
# JSON type (hatch sends no Accept at all) gets HTML, as from PyPI.
JSON_RANGES = frozenset({JSON_TYPE, "application/vnd.pypi.simple.latest+json"})
HTML_RANGES = frozenset({
    HTML_TYPE, "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html",
    "text/*", "*/*",
})  # fmt: skip
# Neither JSON nor a page of anchors: what `garbage` answers project pages with.
GARBAGE = b'{"meta": {"api-version": ]] a broken page: neither JSON nor links'


@dataclass
class _File:
    filename: str
    project: NormalizedName
    version: Version
    data: bytes
    sha256: str
    upload_time: datetime
    yanked: str | None
    requires_python: str | None
    metadata: bytes | None  # a wheel's METADATA, served as <file URL>.metadata (PEP 658)
    served: bytes  # what a download gets: `data`, unless corrupt() changed it

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Upstream:
    """A simple index at `url`, serving what `add()` gave it. Starts at once; `close()` or
    leaving a `with` block stops it. `stop()` and `start()` take it down and bring it back
    on the same port with the same catalogue.

    Behaviour switches, read on every request: `delay` (seconds before answering),
    `fail_with` (answer everything with this status), `garbage` (answer project pages with
    a broken body). `requests` lists every (method, path with query) received."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.fail_with: int | None = None
        self.garbage = False
        # An index that speaks only PEP 503 HTML, as older mirrors and some products do.
        self.html_only = False
        self.requests: list[tuple[str, str]] = []
        self.port = 0  # the first start() takes a free one, later ones reuse it
        self._files: dict[str, _File] = {}
        self._authorization: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._created = datetime.now(UTC)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the catalogue -------------------------------------------------------------------

    def add(
        self,
        filename: str,
        data: bytes,
        *,
        upload_time: datetime | None = None,
        yanked: str | None = None,
        requires_python: str | None = None,
    ) -> None:
        """Serve `data` as `filename` (replacing a file of that name). `yanked=""` yanks it
        without a reason. `requires_python` defaults to the wheel's own Requires-Python."""
        if filename.endswith(".whl"):
            project, version, _, _ = parse_wheel_filename(filename)
            metadata: bytes | None = _wheel_metadata(data)
        else:
            project, version = parse_sdist_filename(filename)
            metadata = None  # as on PyPI, which extracts core metadata from wheels only
        if requires_python is None and metadata is not None:
            requires_python = parse_email(metadata)[0].get("requires_python")
        when = upload_time or datetime.now(UTC)
        if when.tzinfo is None:
            raise ValueError("upload_time must be timezone-aware")
        entry = _File(
            filename=filename, project=project, version=version, data=data,
            sha256=hashlib.sha256(data).hexdigest(), upload_time=when.astimezone(UTC),
            yanked=yanked, requires_python=requires_python, metadata=metadata, served=data,
        )  # fmt: skip
        with self._lock:
            self._files[filename] = entry

    def add_wheel(
        self,
        name: str,
        version: str,
        *,
        requires: Sequence[str] = (),
        requires_python: str | None = None,
        upload_time: datetime | None = None,
        yanked: str | None = None,
    ) -> str:
        """Build a tiny installable py3-none-any wheel (tests/artifacts.py) with these
        Requires-Dist and Requires-Python, and serve it; its filename."""
        package = Package(
            name, version, requires=tuple(requires), requires_python=requires_python or ""
        )
        filename = wheel_filename(package)
        self.add(filename, wheel_bytes(package), upload_time=upload_time, yanked=yanked)
        return filename

    def corrupt(self, filename: str) -> None:
        """Serve other bytes for `filename` that still unpack, of the same size; pages still
        advertise the original sha256 and size, so only a client checking the hash notices."""
        with self._lock:
            entry = self._files[filename]
            entry.served = _tampered(entry.data)

    def require_basic_auth(self, username: str, password: str) -> None:
        """Answer 401 to every request without these credentials."""
        self._authorization = (username, password)

    def count(self, path_prefix: str) -> int:
        """How many requests so far had a path starting with `path_prefix`."""
        with self._lock:
            return sum(1 for _, path in self.requests if path.startswith(path_prefix))

    # --- the server ----------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(self.port, self)
        self.port = self._server.server_address[1]
        # A short poll interval: stop() waits for the loop to notice, up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"upstream-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering; connections to the port are refused until start()."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- answering -----------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Message) -> _Response:
        """The answer to one request (called by the server's handler threads)."""
        with self._lock:
            self.requests.append((method, target))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            return _text(self.fail_with, "failing on purpose")
        if not self._authorized(headers.get("Authorization")):
            response = _text(401, "credentials required")
            response.headers["WWW-Authenticate"] = 'Basic realm="upstream"'
            return response
        path = urlsplit(target).path
        if path.startswith("/files/"):
            return self._download(path)
        if path == "/simple":
            return _redirect("/simple/")
        if path == "/simple/":
            return self._root(headers)
        if path.startswith("/simple/"):
            return self._project(path.removeprefix("/simple/"), headers)
        return _text(404, "not found")

    def _authorized(self, header: str | None) -> bool:
        if self._authorization is None:
            return True
        scheme, _, encoded = (header or "").partition(" ")
        try:
            credentials = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and credentials == ":".join(self._authorization)

    def _root(self, headers: Message) -> _Response:
        with self._lock:
            files = list(self._files.values())
        names = sorted({entry.project for entry in files})
        if _wants_json(headers.get("Accept")):
            document = {
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": n} for n in names],
            }
            body, content_type = json.dumps(document).encode(), JSON_TYPE
        else:
            anchors = "".join(f'<a href="/simple/{n}/">{n}</a><br>\n' for n in names)
            body, content_type = _html("Simple index", anchors), HTML_TYPE
        changed = max((entry.upload_time for entry in files), default=self._created)
        return _page(body, content_type, changed, headers.get("If-None-Match"))

    def _project(self, rest: str, headers: Message) -> _Response:
        name = unquote(rest.removesuffix("/"))
        if not name or "/" in name:
            return _text(404, "not found")
        project = canonicalize_name(name)
        if rest != f"{project}/":
            return _redirect(f"/simple/{project}/")
        with self._lock:
            files = [entry for entry in self._files.values() if entry.project == project]
        if not files:
            return _text(404, "no such project")
        wants_json = _wants_json(headers.get("Accept")) and not self.html_only
        content_type = JSON_TYPE if wants_json else HTML_TYPE
        if self.garbage:
            return _Response(200, GARBAGE, {"Content-Type": content_type})
        if wants_json:
            body = self._project_json(project, files)
        else:
            anchors = "".join(f"{_anchor(entry)}<br>\n" for entry in files)
            body = _html(f"Links for {project}", anchors)
        changed = max(entry.upload_time for entry in files)
        return _page(body, content_type, changed, headers.get("If-None-Match"))

    def _project_json(self, project: str, files: list[_File]) -> bytes:
        versions = sorted({entry.version for entry in files})
        document = {
            "meta": {"api-version": API_VERSION},
            "name": project,
            "versions": [str(version) for version in versions],
            "files": [
                {
                    # Absolute, unlike the HTML page's: consumers must rewrite both kinds.
                    "filename": entry.filename,
                    "url": f"{self.base}{_file_path(entry)}",
                    "hashes": {"sha256": entry.sha256},
                    "requires-python": entry.requires_python,
                    "size": len(entry.data),
                    "upload-time": entry.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "yanked": False if entry.yanked is None else (entry.yanked or True),
                    "core-metadata": (
                        {"sha256": entry.metadata_sha256} if entry.metadata is not None else False
                    ),
                }
                for entry in files
            ],
        }
        return json.dumps(document).encode()

    def _download(self, path: str) -> _Response:
        parts = path.split("/")  # "", "files", sha256, filename
        if len(parts) != 4:
            return _text(404, "not found")
        digest, filename = parts[2], unquote(parts[3])
        with self._lock:
            entry = self._files.get(filename)
            wheel = self._files.get(filename.removesuffix(".metadata"))
        if entry is not None and entry.sha256 == digest:
            body = entry.served
        elif wheel is not None and wheel.sha256 == digest and wheel.metadata is not None:
            body = wheel.metadata
        else:
            return _text(404, "no such file")
        return _Response(200, body, {"Content-Type": "application/octet-stream"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request still being answered never holds up stop()

    def __init__(self, port: int, upstream: Upstream) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a machine
        # without DNS; nothing here uses it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    # One request per connection: otherwise a kept-alive connection would go on being
    # answered by its thread after stop() closed the listening socket.
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def _answer(self) -> None:
        response = self.server.upstream.respond(self.command, self.path, self.headers)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status != 304:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and response.status != 304:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout shorter than `delay`); nothing to tell it

    def log_message(self, format: str, *args: object) -> None:
        pass  # Upstream.requests records every request; stderr stays quiet


def _wheel_metadata(data: bytes) -> bytes:
    """The bytes of a wheel's `<name>-<version>.dist-info/METADATA`, which PEP 658 serves."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [
            name
            for name in archive.namelist()
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA")
        ]
        if len(names) != 1:
            raise ValueError(f"a wheel needs exactly one .dist-info/METADATA, not {names}")
        return archive.read(names[0])


def _tampered(data: bytes) -> bytes:
    """`data` with one bit flipped where archives do not check it: the first zip member's
    modification time, or the gzip header's MTIME (anything else: its last byte)."""
    if data.startswith(b"PK\x03\x04"):
        offset = 10
    elif data.startswith(b"\x1f\x8b"):
        offset = 4
    else:
        offset = len(data) - 1
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def _wants_json(accept: str | None) -> bool:
    """JSON when Accept names a JSON type with q > 0 at least as high as any HTML range."""
    json_q = html_q = 0.0
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() in JSON_RANGES:
            json_q = max(json_q, q)
        elif media.lower() in HTML_RANGES:
            html_q = max(html_q, q)
    return json_q > 0 and json_q >= html_q


def _file_path(entry: _File) -> str:
    return f"/files/{entry.sha256}/{quote(entry.filename)}"


def _anchor(entry: _File) -> str:
    # A path without scheme and host, so clients must resolve it against the page's URL.
    attributes = [f'href="{html.escape(_file_path(entry))}#sha256={entry.sha256}"']
    if entry.requires_python:
        attributes.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
    if entry.yanked is not None:
        attributes.append(f'data-yanked="{html.escape(entry.yanked)}"')
    if entry.metadata_sha256 is not None:
        attributes.append(f'data-core-metadata="sha256={entry.metadata_sha256}"')
    return f"<a {' '.join(attributes)}>{html.escape(entry.filename)}</a>"


def _html(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}</body>\n</html>\n"
    ).encode()


def _page(
    body: bytes, content_type: str, changed: datetime, if_none_match: str | None
) -> _Response:
    """A 200 with validators, or a 304 when `If-None-Match` names this body's ETag."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "Content-Type": content_type,
        "ETag": etag,
        "Last-Modified": email.utils.format_datetime(changed, usegmt=True),
        "Vary": "Accept",
    }
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix still matches.
    offered = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
    if etag in offered or "*" in offered:
        return _Response(304, b"", headers)
    return _Response(200, body, headers)


def _redirect(location: str) -> _Response:
    return _Response(301, b"", {"Location": location})


def _text(status: int, message: str) -> _Response:
    return _Response(status, f"{message}\n".encode(), {"Content-Type": "text/plain"})
