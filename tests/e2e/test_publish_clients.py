"""Every publishing client in use uploads to the registry, and a re-run changes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import BIN
from tests.clients import wait_until_listed
from tests.services import ServicesStack
from tests.services import client_env

pytestmark = pytest.mark.e2e

# One way each tool is told where to upload and with which key, as its documentation says.
Command = Callable[[str, str, list[Path]], list[str | Path]]
TOOLS: dict[str, Command] = {
    "twine": lambda url, token, files: [
        BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar",
        "--repository-url", url, "--username", "__token__", "--password", token, *files,
    ],
    "uv": lambda url, token, files: [
        BIN / "uv", "publish", "--publish-url", url, "--username", "__token__",
        "--password", token, "--trusted-publishing", "never", *files,
    ],
    # poetry and pdm publish the project's dist/ folder; poetry reads its repository and
    # credentials from POETRY_* variables (see tool_env).
    "poetry": lambda url, token, files: [BIN / "poetry", "publish", "-r", "wheelhouse", "-n"],
    "pdm": lambda url, token, files: [
        BIN / "pdm", "publish", "--no-build", "-r", url, "-u", "__token__", "-P", token,
    ],
    "hatch": lambda url, token, files: [
        BIN / "hatch", "publish", "-r", url, "-u", "__token__", "-a", token, "-n", *files,
    ],
    # flit builds the project itself (flit_core is local) and reads FLIT_* variables.
    "flit": lambda url, token, files: [BIN / "flit", "publish"],
}  # fmt: skip


def tool_env(home: Path, url: str, token: str) -> dict[str, str]:
    """Every tool's config and cache inside the test's folder; nothing of this machine's."""
    (home / "hatch.toml").parent.mkdir(parents=True, exist_ok=True)
    (home / "hatch.toml").write_text("")
    return client_env(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        POETRY_CONFIG_DIR=str(home / "poetry"),
        POETRY_CACHE_DIR=str(home / "poetry-cache"),
        POETRY_REPOSITORIES_WHEELHOUSE_URL=url,
        POETRY_HTTP_BASIC_WHEELHOUSE_USERNAME="__token__",
        POETRY_HTTP_BASIC_WHEELHOUSE_PASSWORD=token,
        PDM_HOME=str(home / "pdm"),
        PDM_CHECK_UPDATE="false",
        PDM_PYTHON_USE_VENV="false",
        HATCH_CONFIG=str(home / "hatch.toml"),
        HATCH_DATA_DIR=str(home / "hatch"),
        HATCH_CACHE_DIR=str(home / "hatch-cache"),
        FLIT_INDEX_URL=url,
        FLIT_USERNAME="__token__",
        FLIT_PASSWORD=token,
        # flit's builds are byte-for-byte reproducible with this, so a re-run sends the same.
        SOURCE_DATE_EPOCH="1700000000",
    )


def write_project(root: Path, package: Package) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{package.name}"\nversion = "{package.version}"\n'
        f'description = "{package.summary}"\n\n'
        '[build-system]\nrequires = ["flit_core>=3.9"]\nbuild-backend = "flit_core.buildapi"\n'
    )
    module = root / package.module
    module.mkdir(exist_ok=True)
    (module / "__init__.py").write_text(f'"""{package.summary}."""\n\n__version__ = "1.0"\n')


def stored_rows(stack: ServicesStack, project: str) -> list[tuple[object, ...]]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT f.filename, f.sha256, f.status, f.uploaded_at, f.processed_at "
            "FROM registry_file f JOIN registry_release r ON r.id = f.release_id "
            "JOIN registry_project p ON p.id = r.project_id "
            "WHERE p.normalized_name = %s ORDER BY f.filename",
            [project],
        ).fetchall()


@pytest.mark.parametrize("tool", list(TOOLS))
def test_it_takes_a_publish_from_each_client_and_the_same_publish_again(
    services_stack: ServicesStack, tmp_path: Path, tool: str
) -> None:
    tenant = services_stack.provision("publishing", tool)
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    url, index_url = str(tenant["upload_url"]), str(tenant["index_url"])
    package = Package(f"published-by-{tool}", "1.0")
    project_dir = tmp_path / "project"
    write_project(project_dir, package)
    files = [] if tool == "flit" else write_distributions(package, project_dir / "dist")
    env = tool_env(tmp_path / "home", url, token)
    command = [str(part) for part in TOOLS[tool](url, token, files)]

    def publish() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=180
        )

    first = publish()
    assert first.returncode == 0, first.stdout + first.stderr
    filenames = sorted(p.name for p in (project_dir / "dist").iterdir())
    assert len(filenames) == 2
    wait_until_listed(index_url, token, package.name, filenames)
    before = stored_rows(services_stack, package.name)
    assert [row[2] for row in before] == ["ready", "ready"]

    again = publish()

    assert again.returncode == 0, again.stdout + again.stderr
    assert stored_rows(services_stack, package.name) == before
