"""Copy-ready client settings for one repository, filled in with its real URLs.

Every snippet makes the repository the index (never an extra index): with two indexes,
installers take the highest version from either, so a public package squatting a private
name would win (dependency confusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from registry.links import url_with_credentials

# A shell variable the reader sets, not a credential.
TOKEN = "$WHEELHOUSE_TOKEN"  # noqa: S105


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class ClientSection:
    id: str
    name: str
    note: str
    snippets: tuple[Snippet, ...]


def client_sections(
    *, index_url: str, upload_url: str, name: str, audience: str
) -> list[ClientSection]:
    """pip, uv, Poetry, PDM and twine settings, and publishing from CI with trusted publishing
    (`audience` is the one CI identity tokens must carry); `name` names the index in config
    files."""
    host = urlsplit(index_url).hostname or ""
    # pip and PDM expand ${VAR} in URLs: the key stays in the environment.
    index_with_token = url_with_credentials(index_url, "${WHEELHOUSE_TOKEN}")
    return [
        ClientSection("pip", "pip", "", (
            Snippet("pip-cli", "One command",
                    f"pip install --index-url {index_with_token} "
                    "<package>"),
            Snippet("pip-conf", "pip.conf (pip.ini on Windows)",
                    f"[global]\nindex-url = {index_url}"),
            Snippet("netrc", "~/.netrc: the key pip.conf logs in with",
                    f"machine {host}\nlogin __token__\npassword <your API key>"),
        )),
        ClientSection("uv", "uv", "default = true replaces PyPI: every package comes from here.", (
            Snippet("uv-pyproject", "pyproject.toml",
                    f'[[tool.uv.index]]\nname = "{name}"\nurl = "{index_url}"\n'
                    f'publish-url = "{upload_url}"\ndefault = true'),
            Snippet("uv-env", "Credentials",
                    f"export UV_INDEX_{name.upper().replace('-', '_')}_USERNAME=__token__\n"
                    f'export UV_INDEX_{name.upper().replace("-", "_")}_PASSWORD="{TOKEN}"'),
            Snippet("uv-publish", "uv publish",
                    f'uv publish --publish-url {upload_url} --username __token__ '
                    f'--password "{TOKEN}"'),
        )),
        ClientSection("poetry", "Poetry", "A primary source replaces PyPI for the project.", (
            Snippet("poetry-source", "Install from it",
                    f"poetry source add --priority=primary {name} {index_url}\n"
                    f'poetry config http-basic.{name} __token__ "{TOKEN}"'),
            Snippet("poetry-publish", "Publish to it",
                    f"poetry config repositories.{name}-upload {upload_url}\n"
                    f'poetry config http-basic.{name}-upload __token__ "{TOKEN}"\n'
                    f"poetry publish --build -r {name}-upload"),
        )),
        ClientSection("pdm", "PDM",
                      "A source named pypi replaces PyPI; PDM reads ${WHEELHOUSE_TOKEN} from "
                      "the environment.", (
            Snippet("pdm-pyproject", "pyproject.toml",
                    f'[[tool.pdm.source]]\nname = "pypi"\n'
                    f'url = "{index_with_token}"'),
            Snippet("pdm-publish", "Publish",
                    f'pdm publish --repository {upload_url} --username __token__ '
                    f'--password "{TOKEN}"'),
        )),
        ClientSection("twine", "twine", "", (
            Snippet("pypirc", "~/.pypirc",
                    f"[distutils]\nindex-servers =\n    {name}\n\n[{name}]\n"
                    f"repository = {upload_url}\nusername = __token__\n"
                    "password = <your API key>"),
            Snippet("twine-upload", "Upload", f"twine upload -r {name} dist/*"),
        )),
        ClientSection("ci", "Publishing from CI without secrets",
                      "Trusted publishing: add the workflow or pipeline as a trusted publisher "
                      "in this repository's settings; the job then exchanges its identity "
                      "token for an upload key that works 15 minutes. No key is stored in CI.", (
            Snippet("github-actions", ".github/workflows/release.yml (GitHub Actions)",
                    github_actions_workflow(upload_url)),
            Snippet("gitlab-ci", ".gitlab-ci.yml (GitLab CI)",
                    gitlab_ci_job(upload_url, audience)),
        )),
    ]  # fmt: skip


def github_actions_workflow(upload_url: str) -> str:
    # id-token: write lets the job ask GitHub for its identity token; uv does the rest.
    return (
        'on:\n  push:\n    tags: ["v*"]\n'
        "jobs:\n  publish:\n    runs-on: ubuntu-latest\n"
        "    environment: release\n"
        "    permissions:\n      id-token: write\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - uses: astral-sh/setup-uv@v6\n"
        "      - run: uv build\n"
        f"      - run: uv publish --trusted-publishing always --publish-url {upload_url}"
    )


def gitlab_ci_job(upload_url: str, audience: str) -> str:
    # uv reads GitLab's token from <AUDIENCE>_ID_TOKEN: the audience in capitals, every
    # character that is not a letter or digit made "_".
    variable = "".join(c if c.isascii() and c.isalnum() else "_" for c in audience.upper())
    variable += "_ID_TOKEN"
    return (
        "publish:\n  image: ghcr.io/astral-sh/uv:python3.12-bookworm\n"
        "  rules:\n    - if: $CI_COMMIT_TAG\n"
        f"  id_tokens:\n    {variable}:\n      aud: {audience}\n"
        "  script:\n    - uv build\n"
        f"    - uv publish --trusted-publishing always --publish-url {upload_url}"
    )
