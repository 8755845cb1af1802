"""A renamed repository and organization, against the live production stack: pip, uv and
twine configured with the old URLs keep working (the same packages; the pages' file links
name the current URL, which the installers follow with the key they were given), the new
URLs work, and an old URL stops once its slug is taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import BIN
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import pip_install
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.clients import with_credentials
from tests.e2e.test_install import run
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e


def _wheels(packages: list[Package], dist: Path) -> list[Path]:
    return [p for pkg in packages for p in write_distributions(pkg, dist) if p.suffix == ".whl"]


def _rename(stack: ServicesStack, *, org: str, repo: str, new_org: str, new_repo: str) -> None:
    """Through the services, as the dashboard and the REST API do (in the server's database)."""
    stack.manage("shell", "-c", (
        "from accounts.models import Organization; from accounts.services import "
        "organization_update; from registry.services import repository_update; "
        f"o = Organization.objects.get(slug={org!r}); owner = o.memberships.get().user; "
        f"r = o.repositories.get(slug={repo!r}); "
        f"repository_update(repository=r, actor=owner, slug={new_repo!r}) "
        f"if {new_repo!r} != {repo!r} else None; "
        f"organization_update(organization=o, actor=owner, name=o.name, slug={new_org!r}) "
        f"if {new_org!r} != {org!r} else None"
    ))  # fmt: skip


def _installs(index_url: str, token: str, requirement: str, tmp_path: Path, name: str) -> None:
    python = fresh_venv(tmp_path / name)
    installed = pip_install(python, with_credentials(index_url, token), requirement)
    assert installed.returncode == 0, installed.output
    uv = run(
        [BIN / "uv", "pip", "install", "--no-config", "--python", python, "--reinstall",
         "--index-url", with_credentials(index_url, token), requirement],
        UV_CACHE_DIR=str(tmp_path / f"uv-cache-{name}"),
    )  # fmt: skip
    assert uv.returncode == 0, uv.output


def test_clients_keep_working_at_the_old_urls_after_renames(
    services_stack: ServicesStack, tmp_path: Path
) -> None:
    stack = services_stack
    tenant = stack.provision("oldco", "pkgs")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    old_index, old_upload = str(tenant["index_url"]), str(tenant["upload_url"])
    dist = tmp_path / "dist"
    first = _wheels([Package("renamed-lib", "1.0")], dist)
    assert twine_upload(old_upload, token, first).returncode == 0
    wait_until_listed(old_index, token, "renamed-lib", [first[0].name])

    # The repository is renamed: old and new index URLs install, the old upload URL takes
    # a new release, which the new index lists.
    _rename(stack, org="oldco", repo="pkgs", new_org="oldco", new_repo="packages")
    new_index = stack.url("oldco/packages/simple/")
    _installs(old_index, token, "renamed-lib==1.0", tmp_path, "repo-old")
    _installs(new_index, token, "renamed-lib==1.0", tmp_path, "repo-new")
    second = _wheels([Package("renamed-lib", "1.1")], dist)
    uploaded = twine_upload(old_upload, token, second)
    assert uploaded.returncode == 0, uploaded.output
    wait_until_listed(new_index, token, "renamed-lib", [second[0].name])

    # The organization too: the first URLs (both slugs former now) still answer.
    _rename(stack, org="oldco", repo="packages", new_org="newco", new_repo="packages")
    newest_index = stack.url("newco/packages/simple/")
    for name, url in (("both-old", old_index), ("org-old", new_index), ("new", newest_index)):
        _installs(url, token, "renamed-lib==1.1", tmp_path, name)
    third = _wheels([Package("renamed-lib", "1.2")], dist)
    assert twine_upload(old_upload, token, third).returncode == 0
    wait_until_listed(newest_index, token, "renamed-lib", [third[0].name])
    json_api = http("GET", stack.url("oldco/pkgs/pypi/renamed-lib/json"), token=token)
    assert (json_api.status, json.loads(json_api.body)["info"]["version"]) == (200, "1.2")

    # A new organization takes the old slug: the old URLs are its now (and look missing to
    # this key), the current ones keep working.
    stack.provision("oldco", "pkgs")
    assert http("GET", f"{old_index}renamed-lib/", token=token).status == 404
    _installs(newest_index, token, "renamed-lib==1.2", tmp_path, "after-taken")
