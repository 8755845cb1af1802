"""Download analytics and retention on the live production stack (gunicorn workers, Redis,
S3, a Celery worker): pip, uv, poetry and pdm install a package and each download is found
counted under its installer; a retention policy's dry run lists exactly what applying it
deletes, and pip still installs every version it kept."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.clients import BIN
from tests.clients import consumer_project
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import pdm_consumer_project
from tests.clients import pdm_environment
from tests.clients import with_credentials
from tests.e2e.test_install import _upload
from tests.e2e.test_install import run
from tests.services import LiveStack
from tests.services import ServicesStack
from tests.services import wait_for

pytestmark = pytest.mark.e2e

COUNTED = Package("counted-lib", "1.0")
INSTALLERS = ("pip", "uv", "poetry", "pdm")


def _token(tenant: dict[str, object]) -> str:
    return str(tenant["api_key"]["token"])  # type: ignore[index]


def _downloads(stack: LiveStack, org: str, project: str, token: str) -> dict[str, object]:
    url = stack.url(f"/api/v1/orgs/{org}/repos/main/projects/{project}/downloads/")
    answer = http("GET", url, token=token)
    assert answer.status == 200, answer.text
    return json.loads(answer.body)


def _by_installer(stack: LiveStack, org: str, project: str, token: str) -> dict[str, int]:
    series = _downloads(stack, org, project, token)["by_installer"]
    return {s["name"]: s["total"] for s in series}  # type: ignore[union-attr]


def _install_with_each(index_url: str, token: str, tmp_path: Path, requirement: str) -> None:
    authed = with_credentials(index_url, token)
    python = fresh_venv(tmp_path / "pip-venv")
    by_pip = run([python, "-m", "pip", "install", "--no-cache-dir", "--index-url", authed,
                  requirement])  # fmt: skip
    assert by_pip.returncode == 0, by_pip.output

    uv_env = {"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never"}
    venv = tmp_path / "uv-venv"
    assert run([BIN / "uv", "venv", "--python", sys.executable, venv], **uv_env).returncode == 0
    by_uv = run([BIN / "uv", "pip", "install", "--python", venv / "bin" / "python",
                 "--index-url", authed, requirement], **uv_env)  # fmt: skip
    assert by_uv.returncode == 0, by_uv.output

    project = consumer_project(tmp_path / "poetry-consumer", requirement, f"""\
        [tool.poetry]
        package-mode = false

        [[tool.poetry.source]]
        name = "wheelhouse"
        url = "{index_url}"
        priority = "primary"
        """)  # fmt: skip
    by_poetry = run([BIN / "poetry", "install", "--no-root"], cwd=project,
                    POETRY_HTTP_BASIC_WHEELHOUSE_USERNAME="__token__",
                    POETRY_HTTP_BASIC_WHEELHOUSE_PASSWORD=token,
                    POETRY_CONFIG_DIR=str(tmp_path / "poetry-config"),
                    POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
                    POETRY_VIRTUALENVS_IN_PROJECT="true",
                    POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true",
                    POETRY_NO_INTERACTION="1")  # fmt: skip
    assert by_poetry.returncode == 0, by_poetry.output

    project = pdm_consumer_project(tmp_path / "pdm-consumer", requirement, index_url)
    pdm_python = fresh_venv(project / ".venv")
    pdm_env = pdm_environment(tmp_path, token)
    assert run([BIN / "pdm", "use", "-f", pdm_python], cwd=project, **pdm_env).returncode == 0
    by_pdm = run([BIN / "pdm", "install"], cwd=project, **pdm_env)
    assert by_pdm.returncode == 0, by_pdm.output


def test_each_installer_s_download_is_counted_under_its_name(
    services_stack: ServicesStack, tmp_path: Path
) -> None:
    tenant = services_stack.provision("counted", "main")
    token, index_url = _token(tenant), str(tenant["index_url"])
    _upload(services_stack, tenant, [COUNTED], tmp_path / "dist")

    _install_with_each(index_url, token, tmp_path, COUNTED.name)

    def all_counted() -> bool:
        found = _by_installer(services_stack, "counted", COUNTED.name, token)
        return all(found.get(name, 0) >= 1 for name in INSTALLERS)

    # Each web worker flushes its counters every second (DOWNLOAD_FLUSH_SECONDS).
    wait_for(all_counted, timeout=30, what="a download counted for each installer")
    numbers = _downloads(services_stack, "counted", COUNTED.name, token)
    by_installer = {s["name"]: s["total"] for s in numbers["by_installer"]}  # type: ignore[union-attr]
    # One wheel download each, with fresh caches; nothing counted as "other".
    assert by_installer == dict.fromkeys(INSTALLERS, 1), by_installer
    assert numbers["last_downloaded"].keys() == {"1.0"}  # type: ignore[union-attr]
    # pip and uv read the PEP 658 metadata first: counted apart.
    assert numbers["metadata_reads"] >= 2  # type: ignore[operator]


def test_a_pip_install_is_counted_on_production_s_parts_and_on_the_embedded_default(
    stack: LiveStack, tmp_path: Path
) -> None:
    """Several gunicorn workers each flush their own counters: to PostgreSQL, or to SQLite."""
    org = f"shape-{stack.name}"
    tenant = stack.provision(org, "main")
    token, index_url = _token(tenant), str(tenant["index_url"])
    _upload(stack, tenant, [COUNTED], tmp_path / "dist")  # type: ignore[arg-type]
    python, authed = fresh_venv(tmp_path / "venv"), with_credentials(index_url, token)
    for target in (tmp_path / "a", tmp_path / "b"):
        installed = run([python, "-m", "pip", "install", "--no-cache-dir", "--target", target,
                         "--index-url", authed, COUNTED.name])  # fmt: skip
        assert installed.returncode == 0, installed.output

    def counted_twice() -> bool:
        return _by_installer(stack, org, COUNTED.name, token).get("pip") == 2

    wait_for(counted_twice, timeout=30, what=f"two pip downloads counted on {stack.name}")


RETAINED = [Package("retained-lib", v) for v in ("1.0", "1.1", "1.2", "2.0", "2.1.dev1", "2.1a1")]
OLD_DAYS = {"1.0": 300, "1.1": 200, "1.2": 100, "2.0": 50, "2.1.dev1": 30}
# keep 1 final (2.0, the latest); dev/pre older than 7 days go; 1.0 was just downloaded.
EXPECTED = ["retained_lib-1.1-py3-none-any.whl", "retained_lib-1.2-py3-none-any.whl",
            "retained_lib-2.1.dev1-py3-none-any.whl"]  # fmt: skip
KEPT = ("1.0", "2.0", "2.1a1")


def test_retention_deletes_exactly_its_dry_run_and_pip_installs_what_it_kept(
    services_stack: ServicesStack, tmp_path: Path
) -> None:
    tenant = services_stack.provision("kept", "main")
    token, index_url = _token(tenant), str(tenant["index_url"])
    authed = with_credentials(index_url, token)
    _upload(services_stack, tenant, RETAINED, tmp_path / "dist")
    services_stack.manage("shell", "-c", (
        "import datetime as dt; from django.utils import timezone; "
        "from registry.models import Release; "
        f"ages = {OLD_DAYS!r}; "
        "[Release.objects.filter(project__repository__organization__slug='kept', version=v)"
        ".update(created_at=timezone.now() - dt.timedelta(days=d)) for v, d in ages.items()]"
    ))  # fmt: skip
    python = fresh_venv(tmp_path / "venv")
    installed = run([python, "-m", "pip", "install", "--no-cache-dir", "--index-url", authed,
                     "retained-lib==1.0"])  # fmt: skip
    assert installed.returncode == 0, installed.output

    def counted() -> bool:
        numbers = _downloads(services_stack, "kept", "retained-lib", token)
        return "1.0" in numbers["last_downloaded"]  # type: ignore[operator]

    wait_for(counted, timeout=30, what="the download of 1.0 counted")
    services_stack.manage("shell", "-c", (
        "from analytics.retention import retention_policy_set; "
        "from registry.models import Repository; "
        "r = Repository.objects.get(organization__slug='kept', slug='main'); "
        "owner = r.organization.memberships.get().user; "
        "retention_policy_set(repository=r, actor=owner, enabled=True, keep_finals=1, "
        "prerelease_days=7, protect_downloaded_days=30)"
    ))  # fmt: skip

    dry = services_stack.manage("retention", "--dry-run", "--repository", "kept/main")
    assert sorted(line.split("\t")[1] for line in dry.splitlines()) == EXPECTED
    dry_api = http("GET", services_stack.url("/api/v1/orgs/kept/repos/main/retention/dry-run/"),
                   token=token)  # fmt: skip
    assert json.loads(dry_api.body)["filenames"] == EXPECTED

    applied = services_stack.manage("retention")
    assert "kept/main: deleted 3 files" in applied

    page = http("GET", f"{index_url}retained-lib/", token=token).text
    assert not any(name in page for name in EXPECTED)
    for version in KEPT:
        venv_python = fresh_venv(tmp_path / f"kept-{version}")
        result = run([venv_python, "-m", "pip", "install", "--no-cache-dir", "--index-url",
                      authed, f"retained-lib=={version}"])  # fmt: skip
        assert result.returncode == 0, result.output
        assert f"Successfully installed retained-lib-{version}" in result.output
    gone = run([python, "-m", "pip", "install", "--no-cache-dir", "--index-url", authed,
                "retained-lib==1.1"])  # fmt: skip
    assert gone.returncode != 0
    assert "No matching distribution found for retained-lib==1.1" in gone.output
