"""The whole path: twine uploads a wheel and an sdist, the worker processes them, pip installs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import pip_install
from tests.clients import run
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.clients import with_credentials
from tests.services import LiveStack

pytestmark = pytest.mark.e2e


def test_it_installs_what_twine_uploaded(stack: LiveStack, tmp_path: Path) -> None:
    tenant = stack.provision("skeleton", "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    index_url, upload_url = str(tenant["index_url"]), str(tenant["upload_url"])
    base = Package("Skeleton-Base", "1.0.0")
    app = Package("skeleton.app", "2.1", requires=["skeleton-base>=1.0"])
    files = write_distributions(base, tmp_path / "dist") + write_distributions(
        app, tmp_path / "dist"
    )

    uploaded = twine_upload(upload_url, token, files)
    assert uploaded.returncode == 0, uploaded.output

    page = wait_until_listed(index_url, token, "skeleton-app", [f.name for f in files[2:]])
    wait_until_listed(index_url, token, "skeleton-base", [f.name for f in files[:2]])
    for path in files[2:]:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{path.name}#sha256={digest}" in page

    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, with_credentials(index_url, token), "skeleton.app==2.1")
    assert installed.returncode == 0, installed.output
    imported = run([python, "-c", "import skeleton_app, skeleton_base; "
                    "print(skeleton_app.__version__, skeleton_base.__version__)"])  # fmt: skip
    assert imported.output.split() == ["2.1", "1.0.0"], imported.output


def test_it_serves_the_sdist_bytes_it_was_given(stack: LiveStack, tmp_path: Path) -> None:
    tenant = stack.provision("skeleton", "sdists")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    index_url = str(tenant["index_url"])
    _wheel, sdist = write_distributions(Package("only-source", "0.3"), tmp_path)
    assert twine_upload(str(tenant["upload_url"]), token, [sdist]).returncode == 0

    page = wait_until_listed(index_url, token, "only-source", [sdist.name])
    href = re.search(r'href="([^"#]+)#sha256=', page)
    assert href is not None
    url = stack.url(href.group(1))
    response = http("GET", url, token=token)
    if response.status == 302:  # S3: a presigned URL that needs no further credentials
        response = http("GET", response.headers["Location"])
    assert response.status == 200
    assert hashlib.sha256(response.body).digest() == hashlib.sha256(sdist.read_bytes()).digest()
    assert http("GET", url).status == 401
