"""Webhooks and quotas against live stacks: a published file reaches a receiver through the
real worker, signed as the README says; production's settings refuse a receiver on a private
address; twine is refused past the storage quota, nothing stored, then let through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import twine_upload
from tests.e2e.live_checks import file_rows
from tests.e2e.live_checks import repository_id
from tests.e2e.live_checks import stored_objects
from tests.services import EmbeddedStack
from tests.services import LiveStack
from tests.services import ServicesStack
from tests.services import wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.receiver import assert_signed
from tests.webhooks.receiver import running_receiver

pytestmark = pytest.mark.e2e

# Made through the service, as an operator's script would (the owner acting).
_CREATE = """
from accounts.models import Organization, User
from webhooks.services import webhook_create
try:
    new = webhook_create(
        actor=User.objects.get(email={email!r}),
        organization=Organization.objects.get(slug={org!r}),
        url={url!r}, events={events!r},
    )
    print(json.dumps({{"secret": new.secret}}))
except Exception as exc:
    print(json.dumps({{"error": " ".join(getattr(exc, "messages", [str(exc)]))}}))
"""


def _webhook_create(stack: LiveStack, org: str, url: str, events: list[str]) -> dict[str, str]:
    code = "import json\n" + _CREATE.format(
        email=f"owner@{org}.test", org=org, url=url, events=events
    )
    return json.loads(stack.manage("shell", "-c", code).strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _wheel(tmp_path: Path, version: str) -> Path:
    package = Package("hooked", version)
    path = tmp_path / wheel_filename(package)
    path.write_bytes(wheel_bytes(package))
    return path


def test_a_published_file_reaches_the_receiver_through_the_worker(
    embedded_stack: EmbeddedStack, receiver: Receiver, tmp_path: Path
) -> None:
    """The receiver fails the first attempt: the worker tries again (after the first
    retry's 30 s), with the same body signed anew."""
    tenant = embedded_stack.provision("hooked", "main")
    hook = _webhook_create(embedded_stack, "hooked", receiver.url, ["file.published"])
    wheel = _wheel(tmp_path, "1.0")
    receiver.answers = [500]

    result = twine_upload(str(tenant["upload_url"]), str(tenant["api_key"]["token"]), [wheel])  # type: ignore[index]
    assert result.returncode == 0, result.output

    wait_for(lambda: len(receiver.received) >= 2, timeout=120, what="the delivery and its retry")
    failed, received = receiver.received
    assert failed.body == received.body
    for attempt in (failed, received):
        assert_signed(attempt, hook["secret"])
    body = received.json
    assert (body["type"], body["organization"], body["repository"]) == (
        "file.published", "hooked", "main",
    )  # fmt: skip
    assert (body["project"], body["version"], body["filename"]) == ("hooked", "1.0", wheel.name)


def test_production_refuses_a_receiver_on_a_private_address(
    services_stack: ServicesStack, receiver: Receiver
) -> None:
    services_stack.provision("private", "main")
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/"):
        refused = _webhook_create(services_stack, "private", url, ["file.published"])
        assert "private, loopback or link-local" in refused["error"], refused


def test_twine_is_refused_past_the_storage_quota_then_let_through(
    services_stack: ServicesStack, tmp_path: Path
) -> None:
    tenant = services_stack.provision("quota", "main")
    token, url = str(tenant["api_key"]["token"]), str(tenant["upload_url"])  # type: ignore[index]
    repo_id = repository_id(services_stack, "quota", "main")
    services_stack.manage("quota", "--org", "quota", "--storage", "500B")
    wheel = _wheel(tmp_path, "1.0")

    refused = twine_upload(url, token, [wheel])

    assert refused.returncode != 0
    shown = " ".join(refused.output.split())  # twine wraps its lines
    assert "413 Request Entity Too Large" in shown
    assert (
        f"Storage quota exceeded: organization 'quota' may store 500 bytes and uses 0 bytes; "
        f"this file is {wheel.stat().st_size} bytes." in shown
    ), refused.output
    assert file_rows(services_stack, repo_id) == []
    assert stored_objects(services_stack, repo_id) == {}

    services_stack.manage("quota", "--org", "quota", "--storage", "10MB")
    accepted = twine_upload(url, token, [wheel])

    assert accepted.returncode == 0, accepted.output
    assert [row[0] for row in file_rows(services_stack, repo_id)] == [wheel.name]
