"""Debian's nginx (`make nginx`) as docker-compose.yml's buffering front, with the compose file's
own deploy/nginx.conf: only its two addresses change (and, for a test, chosen directives)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.services import PROJECT_ROOT
from tests.services import free_port
from tests.services import http_ok
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for

CONFIG = PROJECT_ROOT / "deploy" / "nginx.conf"


def front_config(upstream: str, port: int, overrides: dict[str, str] | None = None) -> str:
    """deploy/nginx.conf listening on 127.0.0.1:`port` and passing to `upstream` (host:port),
    each directive in `overrides` (name -> value) set to its value instead."""
    text = CONFIG.read_text()
    changes = {
        r"listen 80;": f"listen 127.0.0.1:{port};",
        r"set \$web http://web:8000;": f"set $web http://{upstream};",
    }
    for name, value in (overrides or {}).items():
        changes[rf"(?m)^(\s*){re.escape(name)} [^;]*;"] = rf"\g<1>{name} {value};"
    for pattern, replacement in changes.items():
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise ValueError(f"deploy/nginx.conf: {pattern!r} found {count} times, not once")
    return text


class Nginx:
    """nginx in front of `upstream`, on a free port of 127.0.0.1."""

    def __init__(
        self, workdir: Path, *, upstream: str, overrides: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.upstream = upstream
        self.overrides = overrides
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if nginx is None:
            raise RuntimeError("nginx is missing: make nginx (apt-get install nginx)")
        (self.workdir / "site.conf").write_text(
            front_config(self.upstream, self.port, self.overrides)
        )
        temp = {
            f"{name}_temp_path": self.workdir / name
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        }
        for path in temp.values():
            path.mkdir(exist_ok=True)
        main = self.workdir / "nginx.conf"
        # As the official image: the site file inside an http block; here with every path in
        # the work folder. Workers run as this user (root would otherwise hand them to nobody,
        # who cannot write the temporary files there).
        main.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.workdir / 'error.log'} info;\n"
            "events { worker_connections 4096; }\nhttp {\n"
            f"    access_log {self.workdir / 'access.log'};\n"
            + "".join(f"    {directive} {path};\n" for directive, path in temp.items())
            + f"    include {self.workdir / 'site.conf'};\n}}\n"
        )
        command = [nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"),
                   "-c", str(main)]  # fmt: skip
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused deploy/nginx.conf:\n{check.stderr}")
        self.process = start_process(command, env=dict(os.environ), log=self.workdir / "out.log")
        wait_for(self._answers, timeout=30, what="nginx")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nginx exited; see {self.workdir / 'error.log'}")
        return http_ok(f"{self.base_url}/healthz")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=5)
