"""A bare WSGI app that answers every request with the bytes of one page, HTML or JSON by the
Accept header: the ceiling for serving that page under gunicorn on this machine, measured
beside the registry (bench/run.py), which must reach at least half of it.

    BARE_HTML=page.html BARE_JSON=page.json gunicorn bench.bare:application
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PAGES = {
    "html": (Path(os.environ["BARE_HTML"]).read_bytes(), "text/html; charset=utf-8"),
    "json": (Path(os.environ["BARE_JSON"]).read_bytes(), JSON_TYPE),
}


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body, content_type = PAGES["json" if JSON_TYPE in environ.get("HTTP_ACCEPT", "") else "html"]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
