"""Slow clients, as tests/e2e/test_slow_clients.py and bench/slow_clients.py make them: a
trickle (an upload whose body comes a few bytes at a time, or stops coming), and pip
installing in a loop beside them."""

from __future__ import annotations

import base64
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import Completed
from tests.clients import multipart
from tests.clients import run
from tests.clients import with_credentials


def upload_request(upload_url: str, token: str, package: Package) -> tuple[bytes, bytes]:
    """The head and body of a real upload of `package`'s wheel, as twine sends it."""
    filename, content = wheel_filename(package), wheel_bytes(package)
    fields = {
        ":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
        "name": package.name, "version": package.version, "filetype": "bdist_wheel",
        "pyversion": "py3",
    }  # fmt: skip
    body, content_type = multipart(fields, {"content": (filename, content)})
    url = urllib.parse.urlsplit(upload_url)
    credentials = base64.b64encode(f"__token__:{token}".encode()).decode()
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Basic {credentials}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


class Trickle:
    """An upload whose headers go at once and whose body goes `chunk` bytes every `interval`
    seconds, on a thread of its own, until `pause()` or `close()`; it notes whatever the
    server answers and whether it closed the connection."""

    def __init__(
        self, upload_url: str, token: str, package: Package, *, chunk: int = 4,
        interval: float = 1.0,
    ) -> None:  # fmt: skip
        self.head, self.body = upload_request(upload_url, token, package)
        self.filename = wheel_filename(package)
        self.address = urllib.parse.urlsplit(upload_url).netloc.rsplit(":", 1)
        self.chunk, self.interval = chunk, interval
        self.sent = 0
        self.reply = b""
        self.closed_by_server = threading.Event()
        self.sending = threading.Event()
        self.stopped = threading.Event()
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        host, port = self.address
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.sendall(self.head)
        self.sending.set()
        self.thread.start()

    @property
    def open(self) -> bool:
        """Still connected, and still waiting for its answer."""
        return not self.closed_by_server.is_set() and not self.reply

    def pause(self) -> None:
        """Stop sending the body, and keep the connection open."""
        self.sending.clear()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        if self.sock is not None:
            self.sock.close()

    def _run(self) -> None:
        assert self.sock is not None
        # Never the whole body: the last bytes stay unsent, so the upload never completes.
        # A selector, not select.select(): late in the suite this process holds more than
        # FD_SETSIZE (1024) descriptors, which select() refuses.
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while not self.stopped.is_set() and not self.closed_by_server.is_set():
                self._step(bool(selector.select(self.interval)))

    def _step(self, readable: bool) -> None:
        """Read what the server said, or send the next bytes of the body."""
        assert self.sock is not None
        try:
            if readable:
                data = self.sock.recv(65536)
                self.reply += data
                if not data:
                    self.closed_by_server.set()
            elif self.sending.is_set() and self.sent + self.chunk < len(self.body):
                self.sock.sendall(self.body[self.sent : self.sent + self.chunk])
                self.sent += self.chunk
        except OSError:  # reset by the server
            self.closed_by_server.set()


def start_trickles(upload_url: str, token: str, count: int, tag: str) -> list[Trickle]:
    trickles = [
        Trickle(upload_url, token, Package(f"trickle-{tag}-{i}", "1.0")) for i in range(count)
    ]
    for trickle in trickles:
        trickle.start()
    return trickles


@dataclass
class Installs:
    """What `clients` pip processes installing `requirement` in a loop did."""

    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def pip_install_loop(
    index_url: str, token: str, requirement: str, *, clients: int, rounds: int, target: Path,
    timeout: float = 300,
) -> Installs:  # fmt: skip
    """Each client installs `requirement` (and its dependencies) `rounds` times, into a new
    folder each time, with no cache: every round fetches index pages and files."""
    results = Installs()
    lock = threading.Lock()
    authed = with_credentials(index_url, token)

    def client(number: int) -> None:
        for round_ in range(rounds):
            started = time.monotonic()
            try:
                done = run(
                    [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--quiet",
                     "--target", str(target / f"{number}-{round_}"), "--index-url", authed,
                     requirement],
                    timeout=timeout,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                done = Completed(-1, f"pip did not finish in {timeout}s")
            with lock:
                if done.returncode == 0:
                    results.seconds.append(time.monotonic() - started)
                else:
                    results.failures.append(done.output[-2000:])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
