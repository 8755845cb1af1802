"""Keys at the door of a repository: schemes, networks, expiry, rotation, people who leave."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Membership
from accounts.models import Role
from accounts.models import User
from accounts.services import api_key_authenticate
from accounts.services import api_key_create
from accounts.services import api_key_rotate
from accounts.services import api_key_used
from accounts.services import audit_key_refusal
from accounts.services import membership_remove
from accounts.services import membership_set_role
from registry.index.access import require_repository_key
from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db


def index(w: World, org: str = "acme", repo: str = "main") -> str:
    return reverse("simple-index", kwargs={"org": org, "repo": repo})


def get(url: str, authorization: str = "", ip: str = "", **extra: str) -> Any:
    client = Client(REMOTE_ADDR=ip or random_source_ip())
    if authorization:
        extra["HTTP_AUTHORIZATION"] = authorization
    return client.get(url, **extra)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_it_takes_the_key_in_every_scheme_clients_use(world: World) -> None:
    token = world.tokens["key_read"]
    schemes = [
        basic("__token__", token), basic("ci-bot", token), basic(token, ""),
        f"Bearer {token}", f"token {token}",
    ]  # fmt: skip
    assert [get(index(world), s).status_code for s in schemes] == [200] * len(schemes)


def test_it_never_takes_a_session_cookie_on_the_upload_or_index_urls(world: World) -> None:
    client = Client(REMOTE_ADDR=random_source_ip())
    client.force_login(world.users["owner"])
    upload = reverse("upload", kwargs={"org": "acme", "repo": "main"})
    # A form post with the session cookie is a browser's: refused outright, never asked for
    # credentials (so it has none to re-send later).
    response = client.post(upload, {})
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response
    index_page = client.get(index(world))
    assert index_page.status_code == 401
    # The realm names the repository: what pip shows when it asks for credentials.
    assert index_page["WWW-Authenticate"] == 'Basic realm="acme/main"'


def test_it_answers_a_foreign_repository_exactly_like_a_missing_one(world: World) -> None:
    foreign = get(index(world), basic("__token__", world.tokens["key_b"]))
    missing = get(index(world, org="nope"), basic("__token__", world.tokens["key_b"]))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content.replace(b"acme", b"nope") == missing.content
    assert foreign.headers.keys() == missing.headers.keys()


def test_it_answers_a_repository_outside_a_key_limit_like_a_missing_one(world: World) -> None:
    token = basic("__token__", world.tokens["key_limited"])
    outside = get(index(world, repo="main"), token)
    missing = get(index(world, repo="nope"), token)
    assert outside.status_code == missing.status_code == 404
    assert outside.content.replace(b"main", b"nope") == missing.content
    assert get(index(world, repo="other"), token).status_code == 200


def test_it_answers_a_foreign_dashboard_page_exactly_like_a_missing_one(world: World) -> None:
    client = Client()
    client.force_login(world.users["b_member"])
    for name in ("org-detail", "org-members", "org-keys", "org-audit", "org-settings"):
        foreign = client.get(reverse(name, kwargs={"org": "acme"}))
        missing = client.get(reverse(name, kwargs={"org": "no-such-org"}))
        assert foreign.status_code == missing.status_code == 404
        # Byte for byte, but for the log-out form's CSRF token, masked anew on every page.
        assert _unmasked(foreign.content) == _unmasked(missing.content)


def _unmasked(page: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page)


def test_it_lets_a_key_in_only_from_its_allowed_networks(world: World) -> None:
    new = api_key_create(
        organization=world.org_a, name="net", allowed_networks=["192.0.2.0/24", "2001:db8::/32"]
    )
    auth = basic("__token__", new.token)
    inside = [get(index(world), auth, ip).status_code for ip in ("192.0.2.7", "2001:db8::1")]
    outside = get(index(world), auth, "198.51.100.7")
    assert inside == [200, 200]
    assert outside.status_code == 403
    assert b"198.51.100.7" in outside.content
    # Its organization is told where it was refused from.
    target = f"key {new.api_key.public_id}"
    refused = AuditEvent.objects.get(action="api_key.refused", target=target)
    assert (refused.source_ip, refused.details["reason"]) == ("198.51.100.7", "network")


def test_it_matches_an_ipv4_mapped_address_against_ipv4_networks(world: World) -> None:
    # A dual-stack server socket reports IPv4 clients as ::ffff:a.b.c.d.
    new = api_key_create(organization=world.org_a, name="net", allowed_networks=["10.1.0.0/16"])
    auth = basic("__token__", new.token)
    inside = get(index(world), auth, "::ffff:10.1.2.3")
    outside = get(index(world), auth, "::ffff:10.9.9.9")
    assert (inside.status_code, outside.status_code) == (200, 403)
    assert b"10.9.9.9" in outside.content


def test_it_believes_x_forwarded_for_only_behind_a_configured_proxy(
    world: World, settings: Any
) -> None:
    new = api_key_create(organization=world.org_a, name="net", allowed_networks=["192.0.2.0/24"])
    auth = basic("__token__", new.token)
    # A client claiming an allowed address through the header is not believed by default.
    spoofed = get(index(world), auth, "198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert spoofed.status_code == 403
    settings.TRUSTED_PROXY_COUNT = 1
    # Behind one proxy, the entry it appended (the last) is the client; earlier ones are not.
    proxied = get(index(world), auth, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 192.0.2.7")
    forged = get(index(world), auth, "10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7, 198.51.100.7")
    assert (proxied.status_code, forged.status_code) == (200, 403)


def test_it_stops_a_key_at_its_expiry(world: World) -> None:
    new = api_key_create(
        organization=world.org_a, name="soon", expires_at=timezone.now() + timedelta(hours=1)
    )
    auth = basic("__token__", new.token)
    assert get(index(world), auth).status_code == 200
    assert get(index(world), auth).status_code == 200  # answered from memory now
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = get(index(world), auth)
    assert response.status_code == 401
    assert "expired" in response.content.decode()


def test_it_rotates_a_key_into_a_new_secret_with_the_same_settings(world: World) -> None:
    old = api_key_create(
        organization=world.org_a, name="ci", scope="upload", repositories=[world.repo_a2],
        allowed_networks=["192.0.2.0/24"], expires_at=timezone.now() + timedelta(days=3),
        management_scopes=["yank"], upload_project="acme-lib", created_by=world.users["owner"],
    )  # fmt: skip
    new = api_key_rotate(api_key=old.api_key, actor=world.users["admin"])
    old.api_key.refresh_from_db()
    assert new.token != old.token
    assert old.api_key.revoked_at is not None
    assert api_key_authenticate(old.token, source_ip="192.0.2.1") is None
    assert api_key_authenticate(new.token, source_ip="192.0.2.1") == new.api_key
    settings_of = lambda k: (  # noqa: E731
        k.organization,
        k.name,
        k.scope,
        k.management_scopes,
        k.upload_project,
        k.expires_at,
        k.allowed_networks,
        k.all_repositories,
        list(k.repositories.all()),
        k.user_id,
    )
    assert settings_of(ApiKey.objects.get(pk=new.api_key.pk)) == settings_of(old.api_key)
    # The new secret is the rotator's doing.
    assert new.api_key.created_by == world.users["admin"]


def test_it_stops_a_personal_key_when_its_user_leaves(world: World) -> None:
    auth = basic("__token__", world.tokens["key_personal"])
    assert get(index(world), auth).status_code == 200
    membership = Membership.objects.get(user=world.users["member"], organization=world.org_a)
    membership_remove(membership=membership, actor=world.users["owner"])
    assert get(index(world), auth).status_code == 401


def test_it_stops_a_personal_key_when_its_user_is_deactivated(world: World) -> None:
    """An operator who deactivates a person (the admin's "active" box) stops their personal
    keys too, though the membership stays; the organization's log says why."""
    auth = basic("__token__", world.tokens["key_personal"])
    assert get(index(world), auth).status_code == 200
    assert get(index(world), auth).status_code == 200  # answered from memory now
    member = User.objects.get(pk=world.users["member"].pk)
    member.is_active = False
    member.save()  # as the admin site's change form does
    assert get(index(world), auth).status_code == 401
    refused = AuditEvent.objects.get(action="api_key.refused", actor_user=world.users["member"])
    assert refused.details["reason"] == "user left"


def test_it_bounds_a_personal_key_by_its_users_current_role(world: World) -> None:
    upload = reverse("upload", kwargs={"org": "acme", "repo": "main"})
    client = Client(REMOTE_ADDR=random_source_ip())
    auth = {"HTTP_AUTHORIZATION": basic("__token__", world.tokens["key_personal"])}
    assert client.post(upload, {}, **auth).status_code == 400  # got past access to validation
    membership = Membership.objects.get(user=world.users["member"], organization=world.org_a)
    membership_set_role(membership=membership, role=Role.READER, actor=world.users["owner"])
    response = client.post(upload, {}, **auth)
    assert response.status_code == 403
    assert "personal" in response.content.decode()


def test_it_writes_last_used_at_most_once_a_minute(world: World) -> None:
    token = world.tokens["key_read"]
    first = api_key_authenticate(token)
    assert first is not None
    assert first.last_used_at is not None
    stamp = first.last_used_at
    api_key_authenticate(token)
    assert ApiKey.objects.get(pk=first.pk).last_used_at == stamp
    ApiKey.objects.filter(pk=first.pk).update(last_used_at=stamp - timedelta(minutes=2))
    api_key_authenticate(token)
    assert ApiKey.objects.get(pk=first.pk).last_used_at > stamp - timedelta(minutes=2)
    # Two requests that read the key at once, before either wrote: only the first writes.
    ApiKey.objects.filter(pk=first.pk).update(last_used_at=None)
    one, other = ApiKey.objects.get(pk=first.pk), ApiKey.objects.get(pk=first.pk)
    api_key_used(api_key=one)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        api_key_used(api_key=other)
    assert ApiKey.objects.get(pk=first.pk).last_used_at == one.last_used_at


def test_it_keeps_no_key_secret_anywhere_in_the_database(world: World) -> None:
    # Use, misuse and rotate keys, so every table that might log them has had the chance.
    token = world.tokens["key_upload"]
    get(index(world), basic("__token__", token))
    get(index(world), basic("__token__", token[:-2] + "xx"))
    key = ApiKey.objects.get(name="upload")
    rotated = api_key_rotate(api_key=key, actor=world.users["owner"])
    secrets = [t.split("_", 2)[2] for t in [*world.tokens.values(), rotated.token]]
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - our own table names
            dump.append(repr(cursor.fetchall()))
    everything = "\n".join(dump)
    assert key.public_id in everything  # the search does see the keys' rows
    leaked = [s for s in secrets if s in everything or s[:12] in everything]
    assert not leaked


def test_it_lets_a_view_opt_in_to_session_reads_for_members_only(world: World) -> None:
    view = require_repository_key(session=True)(lambda request: HttpResponse("ok"))
    statuses = {}
    for who in ("reader", "b_member", None):
        request = RequestFactory().get("/acme/main/anything", REMOTE_ADDR=random_source_ip())
        request.user = world.users[who] if who else AnonymousUser()
        statuses[who] = view(request, org="acme", repo="main").status_code
    assert statuses == {"reader": 200, "b_member": 404, None: 401}
    # A view that does not opt in takes no session, even a member's.
    keys_only = require_repository_key()(lambda request: HttpResponse("ok"))
    request = RequestFactory().get("/acme/main/anything", REMOTE_ADDR=random_source_ip())
    request.user = world.users["reader"]
    assert keys_only(request, org="acme", repo="main").status_code == 401
    with pytest.raises(ValueError, match="reads"):
        require_repository_key(upload=True, session=True)


def test_it_tells_the_organization_why_the_index_refused_a_known_key(world: World) -> None:
    """A key outside its repository limit, and a read-only key uploading, each leave an
    audit event naming the key and the reason (the owner sees who is knocking)."""
    reader_ip, uploader_ip = random_source_ip(), random_source_ip()
    outside = get(index(world), basic("__token__", world.tokens["key_limited"]), ip=reader_ip)
    upload = Client(REMOTE_ADDR=uploader_ip).post(
        "/acme/main/legacy/", HTTP_AUTHORIZATION=basic("__token__", world.tokens["key_read"])
    )
    assert (outside.status_code, upload.status_code) == (404, 403)
    assert "This API key is read-only; it cannot upload." in upload.content.decode()
    refused = AuditEvent.objects.filter(organization=world.org_a, action="api_key.refused")
    assert {
        (e.actor_api_key.name, e.details["reason"], e.details["method"], e.source_ip)
        for e in refused
    } == {
        ("limited", "not visible", "GET", reader_ip),
        ("read", "not allowed: upload", "POST", uploader_ip),
    }


def test_a_refusal_reason_outside_the_known_set_is_recorded_as_other(world: World) -> None:
    """What a request chose never reaches the audit log as it was written."""
    key = ApiKey.objects.get(organization=world.org_a, name="upload")
    audit_key_refusal(
        api_key=key, reason="<script>chosen</script>", source_ip="192.0.2.9", method="brew"
    )
    event = AuditEvent.objects.get(action="api_key.refused")
    assert event.details == {"reason": "other", "method": "other"}


def test_a_revoked_or_expired_key_is_audited_saying_which(world: World) -> None:
    for actor, reason in (("key_revoked", "revoked"), ("key_expired", "expired")):
        response = get(index(world), basic("__token__", world.tokens[actor]), random_source_ip())
        assert response.status_code == 401
        key = world.tokens[actor].split("_")[1]
        event = AuditEvent.objects.get(action="api_key.refused", target=f"key {key}")
        assert event.details["reason"] == reason
