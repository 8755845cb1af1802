"""Signed webhooks end to end in one process: each event of the domain reaches a real HTTP
receiver on 127.0.0.1, signed so that the README's recipe verifies it; a receiver that fails
is tried again; private addresses are refused when the production switch is on; another
organization sees none of it. Tasks run inline (the suite's eager Celery), after commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import User
from accounts.services import api_key_create
from accounts.services import api_key_revoke
from accounts.services import api_key_rotate
from accounts.services import invitation_accept
from accounts.services import invitation_create
from accounts.services import membership_remove
from accounts.services import organization_create
from core.events import EventType
from registry.services import file_delete
from registry.services import release_delete
from registry.services import release_unyank
from registry.services import release_yank
from registry.services import repository_create
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.webhooks.receiver import Receiver
from tests.webhooks.receiver import assert_signed
from tests.webhooks.receiver import running_receiver
from tests.world import Tenant
from tests.world import publish
from uploads.processing import file_process
from webhooks.models import Delivery
from webhooks.models import DeliveryStatus
from webhooks.services import NewWebhook
from webhooks.services import webhook_create
from webhooks.services import webhook_test
from webhooks.targets import TargetRefused
from webhooks.targets import target_resolve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def fast_retries(settings: Any) -> None:
    # Retries at once: the inline worker runs each as soon as it is scheduled.
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0


def _hook(tenant: Tenant, url: str, events: list[str] | None = None) -> NewWebhook:
    return webhook_create(
        actor=tenant.owner,
        organization=tenant.repository.organization,
        url=url,
        events=events or [t.value for t in EventType],
    )


def test_each_event_reaches_the_receiver_signed(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    organization = tenant.repository.organization
    hook = _hook(tenant, receiver.url)
    owner = tenant.owner
    with django_capture_on_commit_callbacks(execute=True):
        kept = publish(tenant.repository, Package("demo", "1.0"))  # file.published
    with django_capture_on_commit_callbacks(execute=True):
        release_yank(release=kept.release, actor=owner, reason="broken")
    with django_capture_on_commit_callbacks(execute=True):
        release_unyank(release=kept.release, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        bad = publish(tenant.repository, Package("demo", "2.0"), process=False)
        # Other bytes behind its key: the worker's check rejects it.
        storage = packages_storage()
        storage.delete(bad.storage_key)
        storage.save(bad.storage_key, ContentFile(b"not the uploaded bytes"))
        file_process(file_id=bad.pk)  # file.rejected
    with django_capture_on_commit_callbacks(execute=True):
        other = publish(tenant.repository, Package("demo", "3.0"))
    with django_capture_on_commit_callbacks(execute=True):
        file_delete(file=other, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        release_delete(release=kept.release, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        new_key = api_key_create(organization=organization, name="ci-2", actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=new_key.api_key, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        invited = invitation_create(
            organization=organization, email="dev@acme.test", role="member", actor=owner,
            base_url="http://testserver",
        )  # fmt: skip
        dev = User.objects.create_user("dev@acme.test")
        membership = invitation_accept(invitation=invited.invitation, user=dev)
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(membership=membership, actor=owner)

    published = [r for r in receiver.received if r.json["type"] == "file.published"]
    assert [r.json["version"] for r in published] == ["1.0", "3.0"]
    # Published by the key that uploaded each file, named as the audit log names it.
    assert kept.uploaded_by is not None
    assert other.uploaded_by is not None
    assert [r.json["actor"] for r in published] == [
        f"key {kept.uploaded_by.public_id}", f"key {other.uploaded_by.public_id}",
    ]  # fmt: skip
    others = [r.json["type"] for r in receiver.received if r.json["type"] != "file.published"]
    # publish() makes an upload key for each file: key.created thrice before ours.
    assert [t for t in others if t != "key.created"] == [
        "release.yanked", "release.unyanked", "file.rejected", "file.deleted",
        "release.deleted", "key.revoked", "member.added", "member.removed",
    ]  # fmt: skip
    assert set(receiver.types()) == {t.value for t in EventType}
    for received in receiver.received:
        assert_signed(received, hook.secret)
        body = received.json
        assert received.headers["Wheelhouse-Event"] == body["type"]
        assert received.headers["Wheelhouse-Event-Id"] == body["id"]
        assert body["organization"] == "acme"
    by_type = {r.json["type"]: r.json for r in receiver.received}
    assert by_type["release.yanked"] | {"id": "", "created_at": ""} == {
        "id": "", "created_at": "", "type": "release.yanked", "organization": "acme",
        "repository": "main", "project": "demo", "version": "1.0", "actor": "owner@acme.test",
    }  # fmt: skip
    assert by_type["file.rejected"]["filename"] == bad.filename
    assert "does not match" in by_type["file.rejected"]["reason"]
    assert by_type["file.deleted"]["filename"] == other.filename
    assert by_type["key.revoked"]["key"] == new_key.api_key.public_id
    assert by_type["member.added"] | {"id": "", "created_at": ""} == {
        "id": "", "created_at": "", "type": "member.added", "organization": "acme",
        "member": "dev@acme.test", "role": "member", "actor": "dev@acme.test",
    }  # fmt: skip
    assert by_type["member.removed"] | {"id": "", "created_at": ""} == {
        "id": "", "created_at": "", "type": "member.removed", "organization": "acme",
        "member": "dev@acme.test", "role": "member", "actor": "owner@acme.test",
    }  # fmt: skip
    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == len(
        receiver.received
    )


def test_a_webhook_for_one_repository_hears_only_about_that_repository(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    organization = tenant.repository.organization
    webhook_create(
        actor=tenant.owner, organization=organization, url=receiver.url,
        events=["release.yanked"], repository=tenant.repository,
    )  # fmt: skip
    other = repository_create(organization=organization, actor=tenant.owner, slug="other")
    for repository in (other, tenant.repository):
        release = publish(repository, Package("demo", "1.0")).release
        with django_capture_on_commit_callbacks(execute=True):
            release_yank(release=release, actor=tenant.owner)
    assert [(r.json["type"], r.json["repository"]) for r in receiver.received] == [
        ("release.yanked", "main"),
    ]


def test_a_keys_events_name_the_key_and_the_key_that_replaced_it(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """A receiver follows a key by its public id and name, through a rotation (the old key
    revoked, naming its successor) to its revocation; never by its secret."""
    organization = tenant.repository.organization
    _hook(tenant, receiver.url, events=["key.created", "key.revoked"])
    with django_capture_on_commit_callbacks(execute=True):
        first = api_key_create(organization=organization, name="deploy", actor=tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        second = api_key_rotate(api_key=first.api_key, actor=tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=second.api_key, actor=tenant.owner)
    old, new = first.api_key.public_id, second.api_key.public_id
    said = {"organization": "acme", "actor": "owner@acme.test", "key_name": "deploy"}
    bodies = [
        {k: v for k, v in r.json.items() if k not in ("id", "created_at")}
        for r in receiver.received
    ]
    assert sorted(bodies, key=lambda b: (b["type"], b["key"] != old)) == [
        {**said, "type": "key.created", "key": old},
        {**said, "type": "key.created", "key": new},
        {**said, "type": "key.revoked", "key": old, "replaced_by": new},
        {**said, "type": "key.revoked", "key": new},
    ]
    secrets = [t.split("_", 2)[2].encode() for t in (first.token, second.token)]
    assert not any(secret in r.body for r in receiver.received for secret in secrets)


def test_a_rolled_back_change_sends_nothing(tenant: Tenant, receiver: Receiver) -> None:
    _hook(tenant, receiver.url)
    # The test's transaction never commits: nothing was ever true, nothing is told.
    publish(tenant.repository, Package("demo", "1.0"))
    assert receiver.received == []
    assert not Delivery.objects.exists()


def test_a_failing_receiver_is_tried_again_until_it_answers(
    tenant: Tenant, receiver: Receiver, fast_retries: None, django_capture_on_commit_callbacks: Any
) -> None:
    hook = _hook(tenant, receiver.url, ["release.yanked"])
    release = publish(tenant.repository, Package("demo", "1.0")).release
    receiver.answers = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        release_yank(release=release, actor=tenant.owner)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [(a.number, a.response_code, a.succeeded) for a in delivery.attempts.all()] == [
        (1, 500, False), (2, 503, False), (3, 200, True),
    ]  # fmt: skip
    assert delivery.attempts.first().error == "The receiver answered 500."  # type: ignore[union-attr]
    # The same body each time, each signed anew.
    assert len({r.body for r in receiver.received}) == 1
    for received in receiver.received:
        assert_signed(received, hook.secret)


def test_a_delivery_is_marked_failed_when_its_day_is_over(
    tenant: Tenant, receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 0  # the day is over at the first failure
    hook = _hook(tenant, receiver.url)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_test(actor=tenant.owner, webhook=hook.webhook)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.FAILED, 1)
    assert delivery.next_attempt_at is None


def test_redeliver_and_test_event_from_the_api_and_the_dashboard(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            "/api/v1/orgs/acme/webhooks/",
            {"url": receiver.url, "events": ["file.published"]},
            content_type="application/json",
        )
    assert created.status_code == 201, created.content
    secret, hook_id = created.json()["secret"], created.json()["id"]
    assert "secret" not in client.get(f"/api/v1/orgs/acme/webhooks/{hook_id}/").json()
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"/orgs/acme/webhooks/{hook_id}/test/", follow=True)
    assert page.status_code == 200
    assert b"webhook.test" in page.content
    first = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            f"/api/v1/orgs/acme/webhooks/{hook_id}/deliveries/{first.pk}/redeliver/"
        )
    assert again.status_code == 202, again.content
    assert again.json()["event_id"] == first.event_id
    assert [r.json["type"] for r in receiver.received] == ["webhook.test", "webhook.test"]
    assert receiver.received[0].body == receiver.received[1].body
    for received in receiver.received:
        assert_signed(received, secret)
    log = client.get(f"/api/v1/orgs/acme/webhooks/{hook_id}/deliveries/").json()["results"]
    assert [(d["status"], d["attempts"][0]["response_code"]) for d in log] == [
        ("succeeded", 200), ("succeeded", 200),
    ]  # fmt: skip


def test_private_addresses_are_refused_when_the_switch_is_on(
    tenant: Tenant, receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    hook = _hook(tenant, receiver.url)  # made while allowed
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in (
        receiver.url, "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/", "http://localhost/x", "http://[::ffff:127.0.0.1]/x",
        "http://100.64.0.1/x", "http://0.0.0.0/x", "http://[fd00::1]/x", "ftp://example.com/x",
        "http://user:pw@example.com/x", "http://exa mple.com/x",
    ):  # fmt: skip
        with pytest.raises(TargetRefused):
            _hook(tenant, url)
    client = Client()
    client.force_login(tenant.owner)
    refused = client.post(
        "/api/v1/orgs/acme/webhooks/",
        {"url": "http://127.0.0.1:9/x", "events": ["file.published"]},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "127.0.0.1" in refused.content.decode()
    # At delivery time too (the address a name resolves to may have changed since).
    with django_capture_on_commit_callbacks(execute=True):
        webhook_test(actor=tenant.owner, webhook=hook.webhook)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "127.0.0.1" in delivery.attempts.get().error
    assert receiver.received == []


def test_a_public_address_is_connected_to_as_checked(settings: Any) -> None:
    """The address checked is the one connected to; the URL's host stays in Host and SNI."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    target = target_resolve("https://93.184.215.14:8443/hooks?x=1")
    assert (str(target.address), target.host_header) == ("93.184.215.14", "93.184.215.14:8443")
    assert target.connect_url == "https://93.184.215.14:8443/hooks?x=1"
    target = target_resolve("http://[2606:4700:4700::1111]/h")
    assert target.connect_url == "http://[2606:4700:4700::1111]/h"


def test_another_organization_can_neither_see_nor_redeliver(
    tenant: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    hook = _hook(tenant, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_test(actor=tenant.owner, webhook=hook.webhook)
    stranger = User.objects.create_user("owner@globex.test")
    organization_create(slug="globex", name="Globex", creator=stranger)
    client = Client()
    client.force_login(stranger)
    base = f"/api/v1/orgs/acme/webhooks/{hook.webhook.pk}"
    assert client.get("/api/v1/orgs/acme/webhooks/").status_code == 404
    assert client.get(f"{base}/").status_code == 404
    assert client.get(f"{base}/deliveries/").status_code == 404
    assert client.post(f"{base}/deliveries/{delivery.pk}/redeliver/").status_code == 404
    # Under its own organization's name, the id is nobody's.
    own = f"/api/v1/orgs/globex/webhooks/{hook.webhook.pk}"
    assert client.get(f"{own}/").status_code == 404
    assert client.post(f"{own}/deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert client.get(f"/orgs/acme/webhooks/{hook.webhook.pk}/").status_code == 404
    assert (
        client.post(
            f"/orgs/acme/webhooks/{hook.webhook.pk}/deliveries/{delivery.pk}/redeliver/"
        ).status_code
        == 404
    )
    assert Delivery.objects.count() == 1
    assert len(receiver.received) == 1


def test_a_webhooks_page_costs_the_same_however_many_deliveries_it_lists(
    tenant: Tenant,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    hook = _hook(tenant, receiver.url).webhook
    browser = Client()
    browser.force_login(tenant.owner)
    url = f"/orgs/acme/webhooks/{hook.pk}/"

    def send_test_events(count: int) -> None:
        for _ in range(count):
            with django_capture_on_commit_callbacks(execute=True):
                webhook_test(actor=tenant.owner, webhook=hook)

    send_test_events(1)
    with django_assert_max_num_queries(100) as one:
        assert browser.get(url).status_code == 200
    send_test_events(4)
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = browser.get(url)
    assert page.status_code == 200
    # Every delivery is listed with its attempt: the deliveries' attempts are read at once.
    assert page.content.decode().count("#1 ") == 5
