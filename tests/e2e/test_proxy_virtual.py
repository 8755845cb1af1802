"""Proxy and virtual repositories against the live stack, with real installers.

Each test starts its own local upstream index (tests/upstream.py) serving requests and its
dependencies as PyPI serves them, provisions its own organization with `manage.py provision
--kind proxy|virtual`, and drives pip, uv, poetry and pdm through ONE index URL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import BIN
from tests.clients import Completed
from tests.clients import Response
from tests.clients import consumer_project
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import pdm_consumer_project
from tests.clients import pdm_environment
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.clients import with_credentials
from tests.e2e.live_checks import query
from tests.e2e.live_checks import repository_id
from tests.e2e.live_checks import stored_objects
from tests.services import LiveStack
from tests.services import ServicesStack
from tests.services import client_env
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

JSON = "application/vnd.pypi.simple.v1+json"
TREE = {"requests", "urllib3", "idna", "certifi", "charset-normalizer"}


def run(command: list[str | Path], *, cwd: Path | None = None, **env: str) -> Completed:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=client_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Completed(result.returncode, result.stdout + result.stderr)


def installed(python: Path) -> dict[str, str]:
    """Distribution name -> version in the environment of `python`."""
    listed = run([BIN / "pip", "--python", python, "list", "--format", "json"])
    return {d["name"].lower(): d["version"] for d in json.loads(listed.output.splitlines()[0])}


def _token(tenant: dict[str, object]) -> str:
    return str(tenant["api_key"]["token"])  # type: ignore[index]


@dataclass(frozen=True)
class Tenant:
    """One organization: `libs` (hosted), `mirror` (a proxy of the test's upstream) and
    `all` (virtual: libs, then mirror; uploads land in libs), and an org-wide upload key."""

    stack: LiveStack
    org: str
    token: str

    def index(self, repo: str) -> str:
        return f"{self.stack.base_url}/{self.org}/{repo}/simple/"

    def upload(self, repo: str) -> str:
        return f"{self.stack.base_url}/{self.org}/{repo}/legacy/"

    def authed(self, repo: str) -> str:
        return with_credentials(self.index(repo), self.token)

    def page(self, repo: str, project: str, *, accept: str = "text/html") -> Response:
        return http(
            "GET", f"{self.index(repo)}{project}/", token=self.token, headers={"Accept": accept}
        )

    def provision(self, repo: str, *options: str) -> dict[str, object]:
        return self.stack.provision(self.org, repo, *options)


def tenant_with_virtual(stack: LiveStack, upstream: Upstream, *proxy_options: str) -> Tenant:
    org = f"pv-{uuid.uuid4().hex[:8]}"
    first = stack.provision(org, "libs")
    stack.provision(org, "mirror", "--kind", "proxy", "--upstream", upstream.url, *proxy_options)
    stack.provision(
        org, "all", "--kind", "virtual", "--members", "libs,mirror", "--upload-target", "libs"
    )
    return Tenant(stack=stack, org=org, token=_token(first))


def publish(tenant: Tenant, repo: str, package: Package, dist: Path) -> Path:
    """twine uploads the package's wheel to `repo`; returns it once the virtual index lists it."""
    wheel = next(p for p in write_distributions(package, dist) if p.suffix == ".whl")
    uploaded = twine_upload(tenant.upload(repo), tenant.token, [wheel])
    assert uploaded.returncode == 0, uploaded.output
    wait_until_listed(tenant.index("all"), tenant.token, package.name, [wheel.name])
    return wheel


def uv_env(tmp_path: Path) -> dict[str, str]:
    return {
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def uv_venv(tmp_path: Path, name: str) -> Path:
    venv = tmp_path / name
    made = run([BIN / "uv", "venv", "--python", sys.executable, venv], **uv_env(tmp_path))
    assert made.returncode == 0, made.output
    return venv / "bin" / "python"


def uv_install(tmp_path: Path, python: Path, index: str, *requirements: str) -> Completed:
    return run([BIN / "uv", "pip", "install", "--python", python, "--index-url", index,
                *requirements], **uv_env(tmp_path))  # fmt: skip


def pip_install(python: Path, index: str, *args: str) -> Completed:
    return run([python, "-m", "pip", "install", "--no-cache-dir", "--index-url", index, *args])


def json_page(response: Response) -> dict[str, object]:
    assert response.status == 200, (response.status, response.text)
    assert response.headers["Content-Type"] == JSON
    return json.loads(response.body)


def listed_versions(response: Response) -> set[str]:
    return {str(v) for v in json_page(response)["versions"]}  # type: ignore[attr-defined]


# One index URL for private packages and their public dependencies -----------------------------


def test_one_virtual_url_installs_a_private_package_with_its_public_tree(
    stack: LiveStack, upstream: Upstream, tmp_path: Path
) -> None:
    tenant = tenant_with_virtual(stack, upstream)
    app = Package("pv-app", "1.0", requires=["requests>=2.32"])
    # Uploaded to the virtual URL: it lands in its upload target, libs.
    wheel = publish(tenant, "all", app, tmp_path / "dist")
    assert wheel.name in tenant.page("libs", "pv-app").text

    python = fresh_venv(tmp_path / "venv")
    by_pip = pip_install(python, tenant.authed("all"), "pv-app")
    assert by_pip.returncode == 0, by_pip.output
    assert {"pv-app", *TREE} <= set(installed(python))

    uv_python = uv_venv(tmp_path, "uv-venv")
    by_uv = uv_install(tmp_path, uv_python, tenant.authed("all"), "pv-app")
    assert by_uv.returncode == 0, by_uv.output
    assert {"pv-app", *TREE} <= set(installed(uv_python))

    project = consumer_project(tmp_path / "consumer", ["pv-app", "requests"], f"""\
        [tool.uv]
        package = false

        [[tool.uv.index]]
        name = "wheelhouse"
        url = "{tenant.index("all")}"
        default = true
        """)  # fmt: skip
    locked = run(
        [BIN / "uv", "lock", "--python", sys.executable],
        cwd=project,
        UV_INDEX_WHEELHOUSE_USERNAME="__token__",
        UV_INDEX_WHEELHOUSE_PASSWORD=tenant.token,
        **uv_env(tmp_path),
    )
    assert locked.returncode == 0, locked.output
    lock = (project / "uv.lock").read_text()
    for name in ("pv-app", *TREE):
        assert f'name = "{name}"' in lock, name
    assert tenant.index("all") in lock
    assert tenant.token not in lock
    # Every public file came from the upstream once, through the proxy.
    assert upstream.count("/simple/requests/") == 1


# Dependency confusion --------------------------------------------------------------------------


def test_a_private_name_wins_over_a_higher_upstream_version_until_allowed(
    services_stack: ServicesStack, upstream: Upstream, tmp_path: Path
) -> None:
    tenant = tenant_with_virtual(services_stack, upstream)
    publish(tenant, "libs", Package("pv-internal", "1.0"), tmp_path / "dist")
    upstream.add_wheel("pv-internal", "99.0")
    # The proxy alone does offer the attacker's 99.0: the virtual index must not.
    assert listed_versions(tenant.page("mirror", "pv-internal", accept=JSON)) == {"99.0"}
    assert listed_versions(tenant.page("all", "pv-internal", accept=JSON)) == {"1.0"}
    index = tenant.authed("all")

    python = fresh_venv(tmp_path / "venv")
    by_pip = pip_install(python, index, "pv-internal")
    assert by_pip.returncode == 0, by_pip.output
    assert installed(python)["pv-internal"] == "1.0"
    pinned = pip_install(python, index, "pv-internal==99.0")
    assert pinned.returncode != 0, pinned.output

    uv_python = uv_venv(tmp_path, "uv-venv")
    by_uv = uv_install(tmp_path, uv_python, index, "pv-internal")
    assert by_uv.returncode == 0, by_uv.output
    assert installed(uv_python)["pv-internal"] == "1.0"

    poetry_project = consumer_project(tmp_path / "poetry", "pv-internal", f"""\
        [tool.poetry]
        package-mode = false

        [[tool.poetry.source]]
        name = "wheelhouse"
        url = "{tenant.index("all")}"
        priority = "primary"
        """)  # fmt: skip
    by_poetry = run([BIN / "poetry", "install", "--no-root"], cwd=poetry_project,
                    **_poetry_env(tmp_path, tenant.token))  # fmt: skip
    assert by_poetry.returncode == 0, by_poetry.output
    assert installed(poetry_project / ".venv" / "bin" / "python")["pv-internal"] == "1.0"

    pdm_project = pdm_consumer_project(tmp_path / "pdm", "pv-internal", tenant.index("all"))
    pdm_python = fresh_venv(pdm_project / ".venv")
    pdm_env = pdm_environment(tmp_path, tenant.token)
    used = run([BIN / "pdm", "use", "-f", pdm_python], cwd=pdm_project, **pdm_env)
    assert used.returncode == 0, used.output
    by_pdm = run([BIN / "pdm", "install"], cwd=pdm_project, **pdm_env)
    assert by_pdm.returncode == 0, by_pdm.output
    assert installed(pdm_python)["pv-internal"] == "1.0"

    # An admin lets the upstream versions of this name through: both are listed, and the
    # page says which upstream project it tracks (PEP 708, informative).
    allowed = tenant.provision("all", "--kind", "virtual", "--allow-upstream", "PV_Internal")
    assert allowed["virtual"]["allow_upstream"] == ["pv-internal"]  # type: ignore[index]
    tracked = f"{upstream.url}pv-internal/"
    merged = json_page(tenant.page("all", "pv-internal", accept=JSON))
    assert set(merged["versions"]) == {"1.0", "99.0"}  # type: ignore[arg-type]
    assert merged["meta"]["tracks"] == [tracked]  # type: ignore[index]
    html = tenant.page("all", "pv-internal").text
    assert f'<meta name="pypi:tracks" content="{tracked}">' in html
    assert "pv_internal-1.0-py3-none-any.whl" in html
    assert "pv_internal-99.0-py3-none-any.whl" in html
    upgraded = pip_install(python, index, "--upgrade", "pv-internal")
    assert upgraded.returncode == 0, upgraded.output
    assert installed(python)["pv-internal"] == "99.0"


def _poetry_env(tmp_path: Path, token: str) -> dict[str, str]:
    return {
        "POETRY_HTTP_BASIC_WHEELHOUSE_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_WHEELHOUSE_PASSWORD": token,
        "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
        "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
        "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true",
        "POETRY_NO_INTERACTION": "1",
    }


# Cooldown and snapshot -------------------------------------------------------------------------


def test_cooldown_and_snapshot_hide_recent_upstream_files_from_pip_and_uv(
    services_stack: ServicesStack, upstream: Upstream, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    upstream.add_wheel("pv-cool", "1.0", upload_time=now - timedelta(days=10))
    upstream.add_wheel("pv-cool", "1.1", upload_time=now)  # just released
    snapshot = (now - timedelta(days=5)).date()
    upstream.add_wheel("pv-snap", "1.0", upload_time=now - timedelta(days=8))
    upstream.add_wheel("pv-snap", "2.0", upload_time=now - timedelta(days=4))
    org = f"pv-{uuid.uuid4().hex[:8]}"
    cool = services_stack.provision(
        org, "cool", "--kind", "proxy", "--upstream", upstream.url, "--cooldown-days", "3"
    )
    snap = services_stack.provision(
        org, "snap", "--kind", "proxy", "--upstream", upstream.url,
        "--snapshot", snapshot.isoformat(),
    )  # fmt: skip
    token = _token(cool)
    cool_index = with_credentials(str(cool["index_url"]), token)
    snap_index = with_credentials(str(snap["index_url"]), token)

    python = fresh_venv(tmp_path / "venv")
    by_pip = pip_install(python, cool_index, "pv-cool", "--dry-run", "--report", "-", "--quiet")
    assert by_pip.returncode == 0, by_pip.output
    assert _reported(by_pip.output) == {"pv-cool": "1.0"}
    fresh = pip_install(python, cool_index, "pv-cool==1.1")
    assert fresh.returncode != 0, fresh.output
    assert "No matching distribution found for pv-cool==1.1" in fresh.output

    uv_python = uv_venv(tmp_path, "uv-venv")
    by_uv = uv_install(tmp_path, uv_python, cool_index, "pv-cool")
    assert by_uv.returncode == 0, by_uv.output
    assert installed(uv_python)["pv-cool"] == "1.0"

    snapped = pip_install(python, snap_index, "pv-snap")
    assert snapped.returncode == 0, snapped.output
    assert installed(python)["pv-snap"] == "1.0"
    by_uv = uv_install(tmp_path, uv_python, snap_index, "pv-snap")
    assert by_uv.returncode == 0, by_uv.output
    assert installed(uv_python)["pv-snap"] == "1.0"
    after = pip_install(python, snap_index, "pv-snap==2.0")
    assert after.returncode != 0, after.output
    assert "No matching distribution found for pv-snap==2.0" in after.output
    page = http("GET", f"{snap['index_url']}pv-snap/", token=token, headers={"Accept": JSON})
    assert [f["filename"] for f in json_page(page)["files"]] == [  # type: ignore[attr-defined]
        "pv_snap-1.0-py3-none-any.whl"
    ]


def _reported(report_output: str) -> dict[str, str]:
    """name -> version of what `pip install --report -` would install."""
    report = json.loads(report_output[report_output.index("{") :])
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in report["install"]}


# Upstream faults -------------------------------------------------------------------------------


def test_cached_projects_install_while_the_upstream_is_down(
    stack: LiveStack, upstream: Upstream, tmp_path: Path
) -> None:
    # A TTL of 0: every page request asks the upstream, so its absence shows at once.
    tenant = tenant_with_virtual(stack, upstream, "--cache-ttl", "0")
    python = fresh_venv(tmp_path / "venv")
    first = pip_install(python, tenant.authed("all"), "requests")
    assert first.returncode == 0, first.output

    upstream.stop()
    again = pip_install(python, tenant.authed("all"), "--force-reinstall", "requests")
    assert again.returncode == 0, again.output
    assert set(installed(python)) >= TREE
    host = f"127.0.0.1:{upstream.port}"
    for repo in ("all", "mirror"):
        stale = tenant.page(repo, "requests")
        assert stale.status == 200, (repo, stale.text)
        assert stale.headers["X-Upstream-Stale"].startswith(f"Upstream {host} is unreachable")

    for repo in ("all", "mirror"):
        missing = tenant.page(repo, "never-fetched")
        assert missing.status == 502, (repo, missing.status)
        # One line: the upstream, the project, and the cause as the connection reported it.
        assert missing.text == (
            f"Upstream {host} is unreachable for never-fetched "
            "(ConnectError: [Errno 111] Connection refused).\n"
        )
    # The hosted member still answers through the virtual index.
    assert tenant.page("libs", "no-such").status == 404


def test_a_corrupted_upstream_file_is_refused_and_never_stored(
    stack: LiveStack, upstream: Upstream, tmp_path: Path
) -> None:
    tenant = tenant_with_virtual(stack, upstream)
    filename = "idna-3.10-py3-none-any.whl"
    upstream.corrupt(filename)
    page = json_page(tenant.page("mirror", "idna", accept=JSON))
    [entry] = [f for f in page["files"] if f["filename"] == filename]  # type: ignore[attr-defined]

    response = http("GET", stack.url(entry["url"]), token=tenant.token)
    assert response.status == 502
    sha256 = entry["hashes"]["sha256"]
    assert response.text.startswith(f"Upstream 127.0.0.1:{upstream.port} sent {filename} with ")
    assert response.text.endswith(f"not the {sha256} its index lists; it was not stored.\n")
    assert response.text.count("\n") == 1

    python = fresh_venv(tmp_path / "venv")
    refused = pip_install(python, tenant.authed("all"), "idna")
    assert refused.returncode != 0, refused.output
    assert "idna" not in installed(python)
    repo = repository_id(stack, tenant.org, "mirror")
    assert [key for key in stored_objects(stack, repo) if key.endswith(filename)] == []
    rows = query(
        stack,
        "SELECT size FROM registry_cachedfile WHERE repository_id = %s AND filename = %s",
        repo,
        filename,
    )
    assert rows in ([], [(None,)])

    # A page that is neither JSON nor links is refused the same way, and not cached.
    upstream.garbage = True
    garbled = tenant.page("mirror", "certifi")
    assert (garbled.status, garbled.text) == (
        502,
        f"Upstream 127.0.0.1:{upstream.port} sent an unreadable page for 'certifi'.\n",
    )


def test_concurrent_requests_for_an_uncached_project_fetch_it_once(
    stack: LiveStack, upstream: Upstream
) -> None:
    tenant = tenant_with_virtual(stack, upstream)
    upstream.delay = 0.3  # so the requests overlap the first fetch

    def fetch(repo: str) -> Response:
        return tenant.page(repo, "certifi", accept=JSON)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(fetch, ["mirror", "all"] * 10))
    assert [r.status for r in responses] == [200] * 20
    listed = {
        tuple((f["filename"], f["hashes"]["sha256"]) for f in json_page(r)["files"])  # type: ignore[attr-defined]
        for r in responses
    }
    assert len(listed) == 1, listed
    assert upstream.count("/simple/certifi/") == 1

    # And one upstream download for 20 first downloads of its wheel (and of its metadata).
    [(filename, sha256)] = next(iter(listed))
    urls = [
        stack.url(f"/{tenant.org}/{repo}/files/{sha256}/{filename}{suffix}")
        for repo in ("mirror", "all")
        for suffix in ("", ".metadata")
    ]
    with ThreadPoolExecutor(20) as pool:
        downloads = list(pool.map(lambda url: http("GET", url, token=tenant.token), urls * 5))
    assert {r.status for r in downloads} <= {200, 302}, [r.status for r in downloads]
    assert upstream.count(f"/files/{sha256}/{filename}") == 2  # the wheel and its .metadata


def test_a_proxy_signs_in_to_an_upstream_that_wants_credentials(
    services_stack: ServicesStack, upstream: Upstream, tmp_path: Path
) -> None:
    upstream.require_basic_auth("mirror-bot", "upstream-secret")
    org = f"pv-{uuid.uuid4().hex[:8]}"
    signed = services_stack.provision(
        org, "signed", "--kind", "proxy", "--upstream", upstream.url,
        "--upstream-username", "mirror-bot", "--upstream-password", "upstream-secret",
    )  # fmt: skip
    anonymous = services_stack.provision(
        org, "anonymous", "--kind", "proxy", "--upstream", upstream.url
    )
    assert "upstream-secret" not in json.dumps(signed)
    token = _token(signed)
    python = fresh_venv(tmp_path / "venv")
    by_pip = pip_install(python, with_credentials(str(signed["index_url"]), token), "idna")
    assert by_pip.returncode == 0, by_pip.output
    assert installed(python)["idna"] == "3.10"
    refused = http("GET", f"{anonymous['index_url']}idna/", token=token)
    assert refused.status == 502
    assert refused.text == f"Upstream 127.0.0.1:{upstream.port} answered 401 for 'idna'.\n"


# Who may read them -----------------------------------------------------------------------------


def test_proxy_and_virtual_pages_and_files_are_private_to_their_organization(
    services_stack: ServicesStack, upstream: Upstream, tmp_path: Path
) -> None:
    tenant = tenant_with_virtual(services_stack, upstream)
    publish(tenant, "libs", Package("pv-secret", "1.0"), tmp_path / "dist")
    urls = []
    for repo, project in (("mirror", "idna"), ("all", "idna"), ("all", "pv-secret")):
        page = json_page(tenant.page(repo, project, accept=JSON))
        file_url = services_stack.url(page["files"][0]["url"])  # type: ignore[index]
        assert http("GET", file_url, token=tenant.token).status in (200, 302)
        urls += [tenant.index(repo), f"{tenant.index(repo)}{project}/", file_url]

    foreign = _token(services_stack.provision(f"{tenant.org}-rival", "libs"))
    limited = _limited_key(services_stack, tenant.org, "libs")
    asked = len(upstream.requests)
    for who, token in (("foreign", foreign), ("limited to libs", limited)):
        for url in [*urls, f"{tenant.index('mirror')}certifi/", f"{tenant.index('all')}certifi/"]:
            response = http("GET", url, token=token)
            assert response.status == 404, (who, url, response.status)
    assert len(upstream.requests) == asked  # refused before any upstream is asked
    assert http("GET", f"{tenant.index('libs')}pv-secret/", token=limited).status == 200


def _limited_key(stack: LiveStack, org: str, repo: str) -> str:
    """A read key of `org` limited to its repository `repo`."""
    out = stack.manage("shell", "-c", (
        "from accounts.models import Organization; from accounts.services import api_key_create; "
        "from registry.models import Repository; "
        f"o = Organization.objects.get(slug={org!r}); "
        f"r = Repository.objects.get(organization=o, slug={repo!r}); "
        "print(api_key_create(organization=o, name='limited', repositories=[r]).token)"
    ))  # fmt: skip
    return out.strip().splitlines()[-1]
