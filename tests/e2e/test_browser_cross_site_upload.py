"""A web page elsewhere must never publish through a browser that holds a key.

The attack (security review H1): a developer once opened the index URL with an upload key in
it, so Chromium keeps Basic credentials for the repository's realm. Later any page they visit
posts a wheel to the upload URL, by form or by fetch, and the browser re-sends those
credentials. The registry must refuse both, and nothing may reach the index.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import http as http_request
from tests.clients import with_credentials
from tests.e2e.conftest import CHROMIUM
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.services import ServicesStack
from tests.services import free_port

pytestmark = pytest.mark.e2e

EVIL_PAGE = """<!DOCTYPE html>
<html><body>
<form id="f" method="post" enctype="multipart/form-data" action="{upload_url}">
  <input type="hidden" name=":action" value="file_upload">
  <input type="hidden" name="protocol_version" value="1">
  <input type="hidden" name="name" value="{name}">
  <input type="hidden" name="version" value="{version}">
  <input type="hidden" name="filetype" value="bdist_wheel">
  <input type="hidden" name="pyversion" value="py3">
  <input type="hidden" name="sha256_digest" value="{sha256}">
  <input type="file" name="content" id="content">
</form>
<script>
const bytes = Uint8Array.from(atob("{wheel_b64}"), c => c.charCodeAt(0));
const file = new File([bytes], "{filename}");
window.plant = async (how) => {{
  if (how === "form") {{
    const transfer = new DataTransfer();
    transfer.items.add(file);
    document.getElementById("content").files = transfer.files;
    document.getElementById("f").submit();
    return "submitted";
  }}
  const body = new FormData(document.getElementById("f"));
  body.set("content", file);
  const answer = await fetch("{upload_url}", {{
    method: "POST", body, credentials: "include", mode: "no-cors"}});
  return answer.type;
}};
</script>
</body></html>
"""


@pytest.fixture
def evil_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second origin on this machine serving the attacker's page."""
    port = free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def _files_of(stack: ServicesStack, token: str, org: str, project: str) -> list[str]:
    answer = http_request(
        "GET", stack.url(f"/api/v1/orgs/{org}/repos/main/files/?project={project}"), token=token
    )
    assert answer.status == 200, answer.text
    return [f["filename"] for f in json.loads(answer.text)["results"]]


@pytest.mark.parametrize("how", ["form", "fetch"])
def test_a_page_elsewhere_cannot_upload_with_the_browsers_cached_key(
    services_stack: ServicesStack, evil_site: tuple[str, Path], how: str
) -> None:
    org = f"csrf{how}"
    tenant = services_stack.provision(org, "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    package = Package("Planted", "6.6.6")
    data = wheel_bytes(package)
    origin, folder = evil_site
    upload_url = services_stack.url(f"/{org}/main/legacy/")
    (folder / "evil.html").write_text(
        EVIL_PAGE.format(
            upload_url=upload_url,
            name=package.name,
            version=package.version,
            sha256=hashlib.sha256(data).hexdigest(),
            wheel_b64=base64.b64encode(data).decode(),
            filename=wheel_filename(package),
        )
    )
    statuses: list[int] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.on(
                "response",
                lambda r: statuses.append(r.status) if r.url == upload_url else None,
            )
            # The victim opens the index once with the key in the URL: Chromium keeps it.
            index = with_credentials(services_stack.url(f"/{org}/main/simple/"), token)
            assert page.goto(index).status == 200  # type: ignore[union-attr]
            # Later, any other site.
            page.goto(f"{origin}/evil.html")
            page.evaluate("how => window.plant(how)", how)
            page.wait_for_timeout(1500)
        finally:
            browser.close()

    assert statuses, "the browser never reached the upload URL"
    assert set(statuses) == {403}, statuses
    assert _files_of(services_stack, token, org, "planted") == []


def test_a_post_with_an_origin_is_refused_before_its_key_is_looked_at(
    services_stack: ServicesStack,
) -> None:
    """The refusal keys on headers only browsers send (twine, uv, poetry, pdm, hatch and flit
    send none of them, and test_publish_clients proves each still publishes)."""
    tenant = services_stack.provision("csrfclients", "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    refused = http_request(
        "POST",
        str(tenant["upload_url"]),
        token=token,
        headers={"Origin": "https://elsewhere.example"},
        data=b"",
    )
    assert refused.status == 403
    assert "not accepted from web browsers" in refused.text
