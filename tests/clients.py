"""Real clients as subprocesses: twine to publish, pip in fresh virtualenvs to install."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.services import LiveStack
from tests.services import client_env

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str


def run(command: Sequence[str | Path], *, timeout: float = 180) -> Completed:
    result = subprocess.run(
        [str(c) for c in command],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Completed(result.returncode, result.stdout + result.stderr)


def twine_upload(upload_url: str, token: str, files: Sequence[Path]) -> Completed:
    return run([
        BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar",
        "--repository-url", upload_url, "--username", "__token__", "--password", token,
        *files,
    ])  # fmt: skip


def with_credentials(url: str, token: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://__token__:{token}@{rest}"


def fresh_venv(path: Path) -> Path:
    """A new virtualenv with pip; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def pip_install(python: Path, index_url: str, *requirements: str) -> Completed:
    return run([python, "-m", "pip", "install", "--no-cache-dir", "--index-url", index_url,
                *requirements])  # fmt: skip


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request, no redirects followed, any status returned rather than raised."""
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    if token is not None:
        basic = base64.b64encode(f"__token__:{token}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def wait_until_listed(index_url: str, token: str, project: str, filenames: Sequence[str],
                      *, timeout: float = 60) -> str:  # fmt: skip
    """Poll the project page until every filename is listed (the worker made it ready)."""
    url = f"{index_url}{project}/"
    deadline = time.monotonic() + timeout
    page = ""
    while time.monotonic() < deadline:
        response = http("GET", url, token=token)
        page = response.text if response.status == 200 else ""
        listed = set(re.findall(r">([^<]+)</a>", page))
        if set(filenames) <= listed:
            return page
        time.sleep(0.25)
    raise AssertionError(f"{filenames} not listed at {url} after {timeout}s; last page:\n{page}")


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body as upload clients send it; returns (body, content type)."""
    boundary = "wheelhouse-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            .encode()
        )  # fmt: skip
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload_fields(path: Path, name: str, version: str) -> dict[str, str]:
    """The form twine sends for `path`."""
    is_wheel = path.name.endswith(".whl")
    data = path.read_bytes()
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if is_wheel else "sdist",
        "pyversion": "py3" if is_wheel else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }


def post_upload(url: str, token: str | None, path: Path, name: str, version: str) -> Response:
    body, content_type = multipart(
        upload_fields(path, name, version), {"content": (path.name, path.read_bytes())}
    )
    return http("POST", url, token=token, data=body, headers={"Content-Type": content_type})


def mailed_link(stack: LiveStack, email: str, path: str) -> str:
    """The newest link under `path` in a mail to `email`, as the file backend wrote it into
    the stack's data folder (mail never goes to the logs)."""
    folder = stack.workdir / "data" / "mail"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        text = "".join(p.read_text(errors="replace") for p in files)
        mails = [m for m in text.split("Subject:") if f"To: {email}" in m]
        links = re.findall(rf"http://\S+{re.escape(path)}\S+/\S*", "".join(mails))
        if links:
            return links[-1]
        time.sleep(0.25)
    raise AssertionError(f"no mail to {email} with a {path} link in {folder}")


def consumer_project(path: Path, dependency: str | list[str], extra: str) -> Path:
    """A project depending on `dependency` (one or several), with `extra` (a tool's index
    settings) appended to its pyproject.toml: what poetry, pdm and uv lock resolve in the live
    tests."""
    names = [dependency] if isinstance(dependency, str) else dependency
    path.mkdir()
    (path / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [project]
        name = "consumer"
        version = "0.1"
        requires-python = ">=3.11"
        dependencies = [{", ".join(f'"{name}"' for name in names)}]
        """)
        + textwrap.dedent(extra)
    )
    return path


def pdm_environment(tmp_path: Path, token: str) -> dict[str, str]:
    """pdm's environment for a test: its home, cache and config in `tmp_path`, never asking
    anything, and the key a pdm_consumer_project reads."""
    return {
        "WHEELHOUSE_TOKEN": token,
        "PDM_HOME": str(tmp_path / "pdm-home"),
        "PDM_CACHE_DIR": str(tmp_path / "pdm-cache"),
        "PDM_CONFIG_FILE": str(tmp_path / "pdm-config.toml"),
        "PDM_CHECK_UPDATE": "false",
        "PDM_NON_INTERACTIVE": "1",
    }


def pdm_consumer_project(path: Path, dependency: str, index_url: str) -> Path:
    """A pdm project whose only source is `index_url`, the key read from WHEELHOUSE_TOKEN."""
    authed = index_url.replace("://", "://__token__:${WHEELHOUSE_TOKEN}@", 1)
    return consumer_project(path, dependency, f"""\
        [tool.pdm]
        distribution = false

        [[tool.pdm.source]]
        name = "pypi"
        url = "{authed}"
        """)  # fmt: skip
