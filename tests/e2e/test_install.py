"""Installers against the live production stack: pip, uv, poetry and pdm install a small
dependency tree; yanks, upload times, core-metadata files and status codes do what they should.

The tree: tree-app 1.0 needs tree-lib>=1.0 and tree-util. tree-lib has 1.0, 1.1 and 2.0, and
2.0 is yanked. tree-util 0.1 is uploaded before `cutoff`, 0.2 after it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from packaging.version import Version

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import BIN
from tests.clients import Completed
from tests.clients import consumer_project
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import pdm_consumer_project
from tests.clients import pdm_environment
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.clients import with_credentials
from tests.services import ServicesStack
from tests.services import client_env

pytestmark = pytest.mark.e2e

TREE = [
    Package("tree-util", "0.1"),
    Package("tree-lib", "1.0"),
    Package("tree-lib", "1.1"),
    Package("tree-lib", "2.0"),
    Package("tree-app", "1.0", requires=["tree-lib>=1.0", "tree-util"]),
]
LATE = Package("tree-util", "0.2")


@dataclass(frozen=True)
class Tree:
    stack: ServicesStack
    token: str
    index_url: str
    upload_url: str
    cutoff: str

    @property
    def authed_index(self) -> str:
        return with_credentials(self.index_url, self.token)


def _token(tenant: dict[str, object]) -> str:
    return str(tenant["api_key"]["token"])  # type: ignore[index]


def _upload(tree_stack: ServicesStack, tenant: dict[str, object], packages, dist: Path) -> None:
    token, index_url = _token(tenant), str(tenant["index_url"])
    wheels = [
        path
        for package in packages
        for path in write_distributions(package, dist)
        if path.suffix == ".whl"
    ]
    uploaded = twine_upload(str(tenant["upload_url"]), token, wheels)
    assert uploaded.returncode == 0, uploaded.output
    for package in packages:
        listed = [w.name for w in wheels if w.name.startswith(package.dist_name + "-")]
        wait_until_listed(index_url, token, package.name, listed)


UPLOAD_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
PIP_WITH_METADATA_ONLY_DRY_RUN = "25.3"


def _upload_times(index_url: str, token: str, project: str) -> dict[str, datetime]:
    """Filename -> upload time, as the project's index page tells installers (uv reads it)."""
    page = http("GET", f"{index_url}{project}/", token=token).text
    return {
        filename: datetime.strptime(value, UPLOAD_TIME).replace(tzinfo=UTC)
        for value, filename in re.findall(r'data-upload-time="([^"]+)"[^>]*>([^<]+)</a>', page)
    }


@pytest.fixture(scope="module")
def tree(services_stack: ServicesStack, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    dist = tmp_path_factory.mktemp("tree-dist")
    tenant = services_stack.provision("tree", "main")
    _upload(services_stack, tenant, TREE, dist)
    services_stack.manage("shell", "-c", (
        "from registry.models import Release; from registry.services import release_yank; "
        "r = Release.objects.get(project__repository__organization__slug='tree',"
        " project__normalized_name='tree-lib', version='2.0'); "
        "owner = r.project.repository.organization.memberships.get().user; "
        "release_yank(release=r, actor=owner, reason='broken build')"
    ))  # fmt: skip
    _upload(services_stack, tenant, [LATE], dist)
    # The cutoff lies between the upload times the index shows (to the microsecond) for the
    # tree and for LATE, uploaded after it: no clock to wait for.
    times = {}
    for project in sorted({p.name for p in TREE}):
        times.update(_upload_times(str(tenant["index_url"]), _token(tenant), project))
    late = times.pop(f"{LATE.dist_name}-{LATE.version}-py3-none-any.whl")
    tree_done = max(times.values())
    assert tree_done < late, times
    cutoff = (tree_done + (late - tree_done) / 2).strftime(UPLOAD_TIME)
    return Tree(
        stack=services_stack,
        token=_token(tenant),
        index_url=str(tenant["index_url"]),
        upload_url=str(tenant["upload_url"]),
        cutoff=cutoff,
    )


def run(
    command: Sequence[str | Path], *, cwd: Path | None = None, timeout: float = 300, **env: str
) -> Completed:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=client_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Completed(result.returncode, result.stdout + result.stderr)


def installed(python: Path) -> dict[str, str]:
    """Distribution name -> version in the environment of `python`."""
    listed = run([BIN / "pip", "--python", python, "list", "--format", "json"])
    return {d["name"]: d["version"] for d in json.loads(listed.output.splitlines()[0])}


def tree_versions(python: Path) -> dict[str, str]:
    return {k: v for k, v in installed(python).items() if k.startswith("tree")}


class AccessLog:
    """The requests the stack's web server saw after this point."""

    def __init__(self, stack: ServicesStack) -> None:
        self.path = stack.access_log
        self.start = self.path.stat().st_size

    def requests(self) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return re.findall(r'"(?:GET|HEAD) (\S+) HTTP', log.read().decode("utf-8", "replace"))


def test_it_installs_the_tree_with_pip_skipping_the_yanked_release(tree: Tree, tmp_path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip = [python, "-m", "pip"]

    resolved = run([*pip, "install", "--no-cache-dir", "--index-url", tree.authed_index,
                    "tree-app"])  # fmt: skip
    assert resolved.returncode == 0, resolved.output
    assert tree_versions(python) == {"tree-app": "1.0", "tree-lib": "1.1", "tree-util": "0.2"}

    pinned = run([*pip, "install", "--no-cache-dir", "--index-url", tree.authed_index,
                  "tree-lib==2.0"])  # fmt: skip
    assert pinned.returncode == 0, pinned.output
    assert "broken build" in pinned.output  # pip warns with the yank reason
    assert tree_versions(python)["tree-lib"] == "2.0"

    downloaded = run([*pip, "download", "--no-cache-dir", "--index-url", tree.authed_index,
                      "--dest", tmp_path / "downloads", "tree-app"])  # fmt: skip
    assert downloaded.returncode == 0, downloaded.output
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == [
        "tree_app-1.0-py3-none-any.whl",
        "tree_lib-1.1-py3-none-any.whl",
        "tree_util-0.2-py3-none-any.whl",
    ]


def test_it_resolves_from_metadata_files_without_fetching_wheels(tree: Tree, tmp_path) -> None:
    # pip's `install --dry-run` fetches every wheel it resolved, metadata files or not, before
    # 25.3 (pypa/pip#12603, fixed by #13482); the pip here is the venv's, which `make` upgrades.
    pip_version = run([BIN / "pip", "--version"]).output.split()[1]
    assert Version(pip_version) >= Version(PIP_WITH_METADATA_ONLY_DRY_RUN), (
        f"this test needs pip >= {PIP_WITH_METADATA_ONLY_DRY_RUN}, found {pip_version}"
    )
    requirements = tmp_path / "requirements.in"
    requirements.write_text("tree-app\ntree-lib<3\n")
    log = AccessLog(tree.stack)

    pip = run([BIN / "pip", "install", "--dry-run", "--ignore-installed", "--no-cache-dir",
               "--index-url", tree.authed_index, "-r", requirements])  # fmt: skip
    uv = run([BIN / "uv", "pip", "compile", "--no-config", "--index-url", tree.authed_index,
              requirements], UV_CACHE_DIR=str(tmp_path / "uv-cache"))  # fmt: skip

    assert pip.returncode == 0, pip.output
    assert "Would install tree-app-1.0 tree-lib-1.1 tree-util-0.2" in pip.output
    assert uv.returncode == 0, uv.output
    assert "tree-lib==1.1" in uv.output
    fetched = log.requests()
    assert [url for url in fetched if url.endswith(".whl")] == []
    metadata = {url.rsplit("/", 1)[1] for url in fetched if url.endswith(".whl.metadata")}
    assert "tree_lib-1.1-py3-none-any.whl.metadata" in metadata


def test_it_installs_with_uv_pip_and_locks_honouring_exclude_newer(tree: Tree, tmp_path) -> None:
    uv_env = {
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    venv = tmp_path / "venv"
    assert run([BIN / "uv", "venv", "--python", sys.executable, venv], **uv_env).returncode == 0
    python = venv / "bin" / "python"
    installed_by_uv = run([BIN / "uv", "pip", "install", "--python", python, "--index-url",
                           tree.authed_index, "tree-app"], **uv_env)  # fmt: skip
    assert installed_by_uv.returncode == 0, installed_by_uv.output
    assert "tree-lib==1.1" in installed_by_uv.output
    assert "tree-util==0.2" in installed_by_uv.output

    project = consumer_project(tmp_path / "consumer", "tree-app", f"""\
        [tool.uv]
        package = false
        exclude-newer = "{tree.cutoff}"

        [[tool.uv.index]]
        name = "wheelhouse"
        url = "{tree.index_url}"
        default = true
        """)  # fmt: skip
    credentials = {
        "UV_INDEX_WHEELHOUSE_USERNAME": "__token__",
        "UV_INDEX_WHEELHOUSE_PASSWORD": tree.token,
    }
    locked = run([BIN / "uv", "lock", "--python", sys.executable], cwd=project,
                 **uv_env, **credentials)  # fmt: skip
    assert locked.returncode == 0, locked.output
    lock = (project / "uv.lock").read_text()
    assert re.search(r'name = "tree-util"\nversion = "0.1"', lock), lock
    assert tree.token not in lock
    synced = run([BIN / "uv", "sync", "--locked", "--python", sys.executable], cwd=project,
                 **uv_env, **credentials)  # fmt: skip
    assert synced.returncode == 0, synced.output
    assert tree_versions(project / ".venv" / "bin" / "python") == {
        "tree-app": "1.0",
        "tree-lib": "1.1",
        "tree-util": "0.1",
    }


def test_it_installs_with_poetry_from_its_only_source(tree: Tree, tmp_path) -> None:
    project = consumer_project(tmp_path / "consumer", "tree-app", f"""\
        [tool.poetry]
        package-mode = false

        [[tool.poetry.source]]
        name = "wheelhouse"
        url = "{tree.index_url}"
        priority = "primary"
        """)  # fmt: skip
    poetry_env = {
        "POETRY_HTTP_BASIC_WHEELHOUSE_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_WHEELHOUSE_PASSWORD": tree.token,
        "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
        "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
        "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true",
        "POETRY_NO_INTERACTION": "1",
    }
    result = run([BIN / "poetry", "install", "--no-root"], cwd=project, **poetry_env)
    assert result.returncode == 0, result.output
    assert tree_versions(project / ".venv" / "bin" / "python") == {
        "tree-app": "1.0",
        "tree-lib": "1.1",
        "tree-util": "0.2",
    }


def test_it_installs_with_pdm_from_its_only_source(tree: Tree, tmp_path) -> None:
    project = pdm_consumer_project(tmp_path / "consumer", "tree-app", tree.index_url)
    python = fresh_venv(project / ".venv")
    pdm_env = pdm_environment(tmp_path, tree.token)
    used = run([BIN / "pdm", "use", "-f", python], cwd=project, **pdm_env)
    assert used.returncode == 0, used.output
    result = run([BIN / "pdm", "install"], cwd=project, **pdm_env)
    assert result.returncode == 0, result.output
    assert tree_versions(python) == {"tree-app": "1.0", "tree-lib": "1.1", "tree-util": "0.2"}


def test_it_answers_pip_and_uv_so_they_stop_or_move_on(tree: Tree, tmp_path) -> None:
    """401 (no key) stops uv at that index; 404 (a foreign key, a missing project) sends it to
    the next one. pip, with one index, reports what it could not find either way."""
    stack = tree.stack
    foreign = _token(stack.provision("tree-rival", "main"))
    empty = stack.provision("tree", "empty")
    # The fallback index on another host name, so uv cannot reuse its credentials elsewhere.
    fallback = tree.authed_index.replace("127.0.0.1", "localhost")
    cases = {
        "missing key": tree.index_url,
        "foreign key": with_credentials(tree.index_url, foreign),
        "missing project": with_credentials(str(empty["index_url"]), _token(empty)),
    }
    requirements = tmp_path / "requirements.in"
    requirements.write_text("tree-util\n")
    outcomes = {}
    for case, index in cases.items():
        pip = run([BIN / "pip", "install", "--dry-run", "--ignore-installed", "--no-cache-dir",
                   "--no-input", "--index-url", index, "tree-util"])  # fmt: skip
        uv = run([BIN / "uv", "pip", "compile", "--no-config", "--index", index,
                  "--default-index", fallback, requirements],
                 UV_CACHE_DIR=str(tmp_path / case))  # fmt: skip
        outcomes[case] = (pip, uv)

    pip, uv = outcomes["missing key"]
    assert pip.returncode != 0
    assert "No matching distribution found for tree-util" in pip.output
    assert uv.returncode != 0, uv.output
    assert "401 Unauthorized" in uv.output
    for case in ("foreign key", "missing project"):
        pip, uv = outcomes[case]
        assert pip.returncode != 0, case
        assert "No matching distribution found for tree-util" in pip.output, case
        assert uv.returncode == 0, (case, uv.output)
        assert "tree-util==0.2" in uv.output, case


def test_it_revalidates_so_a_new_upload_shows_at_once(tree: Tree, tmp_path) -> None:
    page = f"{tree.index_url}tree-util/"
    first = http("GET", page, token=tree.token, headers={"Accept": "text/html"})
    etag = first.headers["ETag"]
    again = http("GET", page, token=tree.token, headers={"If-None-Match": etag})
    assert (first.status, again.status, again.body) == (200, 304, b"")
    assert first.headers["Cache-Control"] == "private, max-age=0, must-revalidate"

    python = fresh_venv(tmp_path / "venv")
    cache = tmp_path / "pip-cache"
    pip = [BIN / "pip", "--python", python, "install", "--cache-dir", cache,
           "--index-url", tree.authed_index]  # fmt: skip
    tenant = {"api_key": {"token": tree.token}, "index_url": tree.index_url,
              "upload_url": tree.upload_url}  # fmt: skip
    _upload(tree.stack, tenant, [Package("tree-fresh", "1.0")], tmp_path / "dist")
    before = run([*pip, "tree-fresh"])
    assert before.returncode == 0, before.output
    assert tree_versions(python) == {"tree-fresh": "1.0"}

    _upload(tree.stack, tenant, [Package("tree-fresh", "1.1")], tmp_path / "dist")
    after = run([*pip, "--upgrade", "tree-fresh"])
    assert after.returncode == 0, after.output
    assert tree_versions(python) == {"tree-fresh": "1.1"}
