"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records each POST and
answers with scripted statuses; and the README's verification recipe, loaded as documented."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[[str, bytes, str], bool]:
    """The receiver's `verify` exactly as the README documents it."""
    text = README.read_text()
    code = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert code is not None, "the README's verification recipe is missing"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["verify"]  # type: ignore[no-any-return]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """What a running receiver got; `answers` are the statuses of the next requests (200
    once they are used up)."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state.received.append(Received(dict(self.headers.items()), body))
                status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/wheelhouse"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def assert_signed(received: Received, secret: str) -> None:
    """The delivery verifies with its webhook's secret, and with nothing else."""
    header = received.headers["Wheelhouse-Signature"]
    verify = readme_verify()
    assert verify(secret, received.body, header)
    assert not verify("whsec_another", received.body, header)
    assert not verify(secret, received.body + b" ", header)
