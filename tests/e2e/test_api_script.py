"""A script drives the REST API against the live services stack, and pip sees each change.

It signs up (a session with CSRF, as a person would for management), creates an organization,
a repository and an upload key through the API, publishes with twine using that key, waits for
processing through the API, yanks a release and revokes the key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import fresh_venv
from tests.clients import mailed_link
from tests.clients import pip_install
from tests.clients import run
from tests.clients import twine_upload
from tests.clients import with_credentials
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e


class Script:
    """What an automation script holds: a logged-in session for management, a key for CI."""

    def __init__(self, stack: ServicesStack) -> None:
        self.stack = stack
        self.session = requests.Session()

    def sign_up(self, email: str, password: str) -> None:
        """Sign up, then choose the password from the mailed link, as a person does."""
        signup = self.stack.url("accounts/signup/")
        self.session.get(signup, timeout=30)
        form = {"csrfmiddlewaretoken": self.session.cookies["csrftoken"], "email": email}
        response = self.session.post(signup, data=form, timeout=30, allow_redirects=False)
        assert response.status_code == 302, response.text
        link = mailed_link(self.stack, email, "/accounts/signup/")
        self.session.get(link, timeout=30)
        choose = {
            "csrfmiddlewaretoken": self.session.cookies["csrftoken"],
            "new_password1": password,
            "new_password2": password,
        }
        done = self.session.post(link, data=choose, timeout=30, allow_redirects=False)
        assert done.status_code == 302, done.text

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-CSRFToken": self.session.cookies.get("csrftoken", "")}
        url = self.stack.url(f"api/v1/{path}")
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)


def key_get(stack: ServicesStack, token: str, path: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(stack.url(f"api/v1/{path}"), headers=headers, timeout=30)


def wait_processed(stack: ServicesStack, token: str, repo_path: str, filename: str) -> str:
    """Poll the file through the API until the worker has processed it."""
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = key_get(stack, token, f"{repo_path}/files/{filename}").json()["status"]
        if status != "pending":
            return status
        time.sleep(0.25)
    raise AssertionError(f"{filename} still {status!r} after 60 s")


def installed_version(python: Path) -> str:
    shown = run([python, "-c", "import api_scripted; print(api_scripted.__version__)"])
    return shown.output.strip()


def test_it_runs_a_registry_from_a_script(services_stack: ServicesStack, tmp_path: Path) -> None:
    stack = services_stack
    script = Script(stack)
    script.sign_up("script@example.test", "a long enough passphrase 42")

    created = script.api("POST", "orgs/", json={"slug": "scripted", "name": "Scripted Inc"})
    assert created.status_code == 201, created.text
    repo = script.api("POST", "orgs/scripted/repos/", json={"slug": "ci"}).json()
    assert repo["index_url"] == stack.url("scripted/ci/simple/")
    key = script.api("POST", "orgs/scripted/keys/", json={"name": "ci", "scope": "upload"})
    assert key.status_code == 201, key.text
    token = key.json()["token"]

    repo_path = "orgs/scripted/repos/ci"
    wheels = []
    for version in ("1.0", "2.0"):
        wheel, _ = write_distributions(Package("api-scripted", version), tmp_path / version)
        published = twine_upload(repo["upload_url"], token, [wheel])
        assert published.returncode == 0, published.output
        assert wait_processed(stack, token, repo_path, wheel.name) == "ready"
        wheels.append(wheel)
    files = key_get(stack, token, f"{repo_path}/files/").json()
    assert {f["filename"] for f in files["results"]} == {w.name for w in wheels}

    index = with_credentials(repo["index_url"], token)
    python = fresh_venv(tmp_path / "venv")
    assert pip_install(python, index, "api-scripted").returncode == 0
    assert installed_version(python) == "2.0"

    release = f"{repo_path}/projects/api-scripted/releases/2.0/"
    yanked = script.api("POST", f"{release}yank/", json={"reason": "broken on Tuesdays"})
    assert yanked.json()["yanked"] is True
    unpinned = fresh_venv(tmp_path / "unpinned")
    assert pip_install(unpinned, index, "api-scripted").returncode == 0
    assert installed_version(unpinned) == "1.0"  # the yanked 2.0 is skipped
    pinned = fresh_venv(tmp_path / "pinned")
    assert pip_install(pinned, index, "api-scripted==2.0").returncode == 0
    assert installed_version(pinned) == "2.0"  # unless asked for exactly

    public_id = key.json()["public_id"]
    revoked = script.api("DELETE", f"orgs/scripted/keys/{public_id}/")
    assert revoked.json()["revoked_at"] is not None
    refused = pip_install(fresh_venv(tmp_path / "after"), index, "api-scripted")
    assert refused.returncode != 0
    assert "401" in refused.output
    assert key_get(stack, token, "user/").status_code == 401
    log = script.api("GET", "orgs/scripted/audit/", params={"action": "api_key."}).json()
    actions = [e["action"] for e in log["results"]]  # newest first
    assert actions.index("api_key.refused") < actions.index("api_key.revoke")


def test_it_serves_the_reference_page_and_its_assets(services_stack: ServicesStack) -> None:
    page = requests.get(services_stack.url("api/v1/docs/"), timeout=30)
    assert page.status_code == 200
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert bundle in page.text
    asset = requests.get(services_stack.url(bundle), timeout=30)
    assert asset.status_code == 200
    assert "SwaggerUIBundle" in asset.text
