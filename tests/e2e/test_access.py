"""Who may read and write a repository, checked over HTTP against the live server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import Response
from tests.clients import http
from tests.clients import post_upload
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e

BAD_TOKENS = {
    "garbage": "not-a-key",
    "wrong secret": "whk_aaaaaaaaaaaa_" + "x" * 43,
}


@dataclass(frozen=True)
class Tenants:
    stack: ServicesStack
    index_url: str
    upload_url: str
    owner_token: str
    read_token: str
    foreign_token: str
    file_url: str
    wheel: Path


def _token(tenant: dict[str, object]) -> str:
    return str(tenant["api_key"]["token"])  # type: ignore[index]


@pytest.fixture(scope="module")
def tenants(services_stack: ServicesStack, tmp_path_factory: pytest.TempPathFactory) -> Tenants:
    owner = services_stack.provision("acme", "private")
    reader = services_stack.provision("acme", "private", scope="read")
    foreign = services_stack.provision("globex", "private")
    wheel, _sdist = write_distributions(Package("acme-secret", "1.0"), tmp_path_factory.mktemp("d"))
    assert twine_upload(str(owner["upload_url"]), _token(owner), [wheel]).returncode == 0
    page = wait_until_listed(str(owner["index_url"]), _token(owner), "acme-secret", [wheel.name])
    href = page.split('href="', 1)[1].split("#", 1)[0]
    return Tenants(
        stack=services_stack,
        index_url=str(owner["index_url"]),
        upload_url=str(owner["upload_url"]),
        owner_token=_token(owner),
        read_token=_token(reader),
        foreign_token=_token(foreign),
        file_url=services_stack.url(href),
        wheel=wheel,
    )


def _read_urls(t: Tenants) -> list[str]:
    return [t.index_url, f"{t.index_url}acme-secret/", t.file_url, f"{t.index_url}no-such/"]


def _assert_unauthorized(response: Response) -> None:
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_it_challenges_reads_without_a_key(tenants: Tenants) -> None:
    for url in _read_urls(tenants):
        _assert_unauthorized(http("GET", url))


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_it_challenges_reads_with_a_bad_key(tenants: Tenants, token: str) -> None:
    for url in _read_urls(tenants):
        _assert_unauthorized(http("GET", url, token=token))


@pytest.mark.parametrize("token", [None, *BAD_TOKENS.values()], ids=["none", *BAD_TOKENS])
def test_it_challenges_uploads_without_a_valid_key(tenants: Tenants, token: str | None) -> None:
    for url in (tenants.upload_url, tenants.upload_url.rstrip("/")):
        _assert_unauthorized(post_upload(url, token, tenants.wheel, "acme-secret", "1.0"))


def _download(file_url: str, token: str) -> bytes:
    """The file's bytes, through the redirect to presigned S3 (which needs no key)."""
    redirect = http("GET", file_url, token=token)
    assert redirect.status == 302, redirect.text
    download = http("GET", redirect.headers["Location"])
    assert download.status == 200, download.text
    return download.body


def test_it_lets_the_owner_key_read_everything(tenants: Tenants) -> None:
    index, project, file, missing = (
        http("GET", url, token=tenants.owner_token) for url in _read_urls(tenants)
    )
    assert index.status == 200
    assert '<a href="acme-secret/">acme-secret</a>' in index.text
    assert project.status == 200
    assert f">{tenants.wheel.name}</a>" in project.text
    # The file answers with a redirect to presigned S3, which serves exactly what was uploaded.
    assert file.status == 302
    assert _download(tenants.file_url, tenants.owner_token) == tenants.wheel.read_bytes()
    # A missing project is a plain 404.
    assert missing.status == 404
    assert "acme-secret" not in missing.text


def test_it_hides_a_repository_from_another_organizations_key(tenants: Tenants) -> None:
    foreign = http("GET", tenants.index_url, token=tenants.foreign_token)
    missing_url = tenants.index_url.replace("/acme/", "/no-such-org/")
    missing = http("GET", missing_url, token=tenants.foreign_token)
    assert foreign.status == missing.status == 404
    assert foreign.text.replace("acme", "no-such-org") == missing.text
    for url in _read_urls(tenants):
        response = http("GET", url, token=tenants.foreign_token)
        assert response.status == 404
        assert b"acme-secret" not in response.body


def test_it_refuses_an_upload_from_another_organizations_key(
    tenants: Tenants, tmp_path: Path
) -> None:
    wheel, _ = write_distributions(Package("acme-secret", "6.6.6"), tmp_path)
    response = post_upload(tenants.upload_url, tenants.foreign_token, wheel, "acme-secret", "6.6.6")
    assert response.status == 404
    twine = twine_upload(tenants.upload_url, tenants.foreign_token, [wheel])
    assert twine.returncode != 0
    assert "404" in twine.output
    page = http("GET", f"{tenants.index_url}acme-secret/", token=tenants.owner_token).text
    assert "6.6.6" not in page


def test_it_refuses_an_upload_with_a_read_only_key(tenants: Tenants, tmp_path: Path) -> None:
    wheel, _ = write_distributions(Package("acme-secret", "7.0"), tmp_path)
    response = post_upload(tenants.upload_url, tenants.read_token, wheel, "acme-secret", "7.0")
    assert response.status == 403
    assert "read-only" in response.text
    assert http("GET", f"{tenants.index_url}acme-secret/", token=tenants.read_token).status == 200


def test_it_accepts_the_upload_url_with_and_without_its_slash(
    tenants: Tenants, tmp_path: Path
) -> None:
    wheels = []
    for version, url in (("8.0", tenants.upload_url), ("8.1", tenants.upload_url.rstrip("/"))):
        wheel, _ = write_distributions(Package("acme-secret", version), tmp_path)
        response = post_upload(url, tenants.owner_token, wheel, "acme-secret", version)
        assert response.status == 200, response.text
        wheels.append(wheel)
    # Both were stored and processed: listed, and served byte for byte.
    page = wait_until_listed(
        tenants.index_url, tenants.owner_token, "acme-secret", [w.name for w in wheels]
    )
    for wheel in wheels:
        anchor = re.search(rf'<a href="([^"#]+)#[^>]*>{re.escape(wheel.name)}</a>', page)
        assert anchor is not None, page
        data = _download(tenants.stack.url(anchor.group(1)), tenants.owner_token)
        assert data == wheel.read_bytes()
