"""What an upload request may be before anything is read: never a browser's, never larger
than the file limit plus its form, never stored beyond the one `content` part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files import uploadedfile
from django.test import Client

from accounts.models import User
from registry.models import File
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from tests.world import stored_files

pytestmark = pytest.mark.django_db(transaction=True)

WHEEL = Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE))
BROWSER = "Uploads are not accepted from web browsers"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
        {"Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Site": "same-origin"},
    ],
    ids=["origin", "opaque-origin", "navigation", "no-cors-fetch", "same-origin-fetch"],
)
def test_it_refuses_an_upload_a_browser_sends_even_with_a_valid_key(
    tenant: Tenant, packages_dir: Path, headers: dict[str, str]
) -> None:
    response = tenant.post(WHEEL, headers=headers)

    assert response.status_code == 403
    assert response.reason_phrase.startswith(BROWSER)
    assert File.objects.count() == 0
    assert stored_files(packages_dir) == []


def test_it_refuses_a_browser_form_post_before_asking_for_credentials(tenant: Tenant) -> None:
    # No Basic challenge: a browser that is never asked for a key has none to re-send.
    response = tenant.post(WHEEL, token="", headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_it_refuses_a_form_post_that_carries_cookies(tenant: Tenant) -> None:
    tenant.client.cookies["sessionid"] = "a-browser-was-here"

    response = tenant.post(WHEEL)

    assert response.status_code == 403
    assert File.objects.count() == 0


def test_it_refuses_a_declared_body_beyond_the_limit_before_reading_it(
    tenant: Tenant, packages_dir: Path, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    tenant.repository.max_file_size = 1024
    tenant.repository.save()

    # The body says 1 GiB is coming; only the first bytes exist. Reading any further than
    # the headers would fail differently: the refusal comes from the declared length alone.
    response = tenant.post(WHEEL, CONTENT_LENGTH=str(1024**3))

    assert response.status_code == 413
    assert response.reason_phrase == "File too large. Limit for repository 'acme/main' is 1 KB."
    assert stored_files(packages_dir) == []


def test_it_writes_only_the_content_part_of_a_body_with_other_files(
    tenant: Tenant, packages_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body padded with other file parts (the review sent five of 95 MiB beside a wheel)
    puts one temporary file on disk, not six: only `content` is ever written."""
    created: list[str] = []
    real = uploadedfile.tempfile.NamedTemporaryFile

    def counting(*args: Any, **kwargs: Any) -> Any:
        handle = real(*args, **kwargs)
        created.append(handle.name)
        return handle

    monkeypatch.setattr(uploadedfile.tempfile, "NamedTemporaryFile", counting)
    junk = {f"junk{i}": (f"junk{i}.bin", bytes(64 * 1024)) for i in range(5)}

    response = tenant.post(WHEEL, extra_files=junk)

    assert response.status_code == 200, response.content
    assert len(created) == 1
    assert sorted(p.name for p in stored_files(packages_dir)) == [
        WHEEL.filename,
        f"{WHEEL.filename}.metadata",
    ]


BODY = b'--x\r\nContent-Disposition: form-data; name="content"; filename="a.whl"\r\n\r\n'


@pytest.mark.parametrize(
    ("logged_in", "status", "message"),
    [(True, 403, BROWSER), (False, 401, "Uploads take an API key with the upload scope.")],
    ids=["session-cookie", "anonymous"],
)
def test_the_rest_api_refuses_an_upload_without_a_key_before_reading_its_body(
    tenant: Tenant, logged_in: bool, status: int, message: str
) -> None:
    """A logged-in person (here: one who belongs to no organization) or nobody at all is
    refused before session authentication's CSRF check could parse, and spool, the body,
    which claims to be 300 MiB."""
    client = Client()
    if logged_in:
        client.force_login(User.objects.create_user("nobody@else.test"))

    response = client.generic(
        "POST",
        "/api/v1/orgs/nonexistent/repos/none/files/",
        BODY,
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(300 * 1024**2),
    )

    assert response.status_code == status
    assert json.loads(response.content)["error"]["message"].startswith(message)


def test_the_rest_api_refuses_an_upload_from_a_browser(tenant: Tenant) -> None:
    response = Client().post(
        "/api/v1/orgs/acme/repos/main/files/",
        {"content": ("x.whl", b"x")},
        headers={"Authorization": f"Bearer {tenant.token}", "Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert json.loads(response.content)["error"]["message"].startswith(BROWSER)
