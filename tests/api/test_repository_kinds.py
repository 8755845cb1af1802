"""Proxy and virtual repositories through the API: settings, member order, the proxy's cache
and a virtual repository's upstream overrides, and who may change them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import Repository
from registry.models import UpstreamOverride
from registry.services import repository_create
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.world import World
from tests.world import cached_project

pytestmark = pytest.mark.django_db

PASSWORD = "upstream-pw-never-shown"


def _proxy(world: World, slug: str = "mirror", **options: object) -> Repository:
    return repository_create(
        organization=world.org_a, actor=world.users["owner"], slug=slug, kind="proxy", **options
    )


def _virtual(world: World, members: list[str], **options: object) -> Repository:
    return repository_create(
        organization=world.org_a,
        actor=world.users["owner"],
        slug="all",
        kind="virtual",
        members=members,
        **options,
    )


def test_the_repository_list_costs_the_same_however_many_members_a_virtual_one_has(
    world: World,
) -> None:
    _proxy(world)
    _virtual(world, ["main", "mirror"])
    owner = as_actor(world, "owner")
    costs, listed = [], []
    for members in (["main", "mirror"], ["other", "mirror", "main"]):
        assert owner.patch("orgs/acme/repos/all/", {"members": members}).status_code == 200
        owner.get("orgs/acme/repos/")
        with CaptureQueriesContext(connection) as queries:
            body = owner.get("orgs/acme/repos/").json()
        costs.append(len(queries))
        listed.append({r["slug"]: r["members"] for r in body["results"]}["all"])
    assert listed == [["main", "mirror"], ["other", "mirror", "main"]]
    assert costs[0] == costs[1]


def test_it_creates_a_proxy_and_never_shows_its_password(world: World) -> None:
    admin = as_actor(world, "admin")
    created = admin.post(
        "orgs/acme/repos/",
        {
            "slug": "mirror", "kind": "proxy", "upstream_username": "mirror-bot",
            "upstream_password": PASSWORD, "cooldown_days": 3, "cache_ttl": 120,
            "allow_rules": "requests\ndjango>=4.2,<6", "exempt_names": "urllib3",
        },
    )  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == "proxy"
    assert body["upstream_url"] == "https://pypi.org/simple/"
    assert body["upstream_username"] == "mirror-bot"
    assert body["upstream_password_set"] is True
    assert (body["cooldown_days"], body["cache_ttl"]) == (3, 120)
    assert body["allow_rules"] == "requests\ndjango>=4.2,<6"
    assert (body["members"], body["upload_target"]) == (None, None)
    assert "upstream_password" not in body
    for response in (created, admin.get("orgs/acme/repos/mirror/"), admin.get("orgs/acme/repos/")):
        assert PASSWORD not in response.content.decode()
    event = AuditEvent.objects.get(action="repository.create", target="repository acme/mirror")
    assert event.details["settings"]["upstream_password"] == "set"
    assert PASSWORD not in str(list(AuditEvent.objects.values_list("details", flat=True)))
    cleared = admin.patch("orgs/acme/repos/mirror/", {"upstream_password": ""})
    assert cleared.json()["upstream_password_set"] is False
    assert Repository.objects.get(slug="mirror").upstream_password == ""


def test_it_creates_a_virtual_repository_and_changes_its_member_order(world: World) -> None:
    _proxy(world)
    owner = as_actor(world, "owner")
    created = owner.post(
        "orgs/acme/repos/",
        {"slug": "all", "kind": "virtual", "members": ["main", "mirror"], "upload_target": "main"},
    )
    assert created.status_code == 201, created.content
    assert (created.json()["members"], created.json()["upload_target"]) == (
        ["main", "mirror"],
        "main",
    )
    assert created.json()["upstream_url"] is None
    reordered = owner.patch("orgs/acme/repos/all/", {"members": ["mirror", "other", "main"]})
    assert reordered.status_code == 200, reordered.content
    assert owner.get("orgs/acme/repos/all/").json()["members"] == ["mirror", "other", "main"]
    listed = {r["slug"]: r for r in owner.get("orgs/acme/repos/").json()["results"]}
    assert listed["all"]["members"] == ["mirror", "other", "main"]
    assert listed["main"]["members"] is None
    event = AuditEvent.objects.filter(action="repository.update").latest("pk")
    assert event.details["members"] == ["mirror", "other", "main"]
    # The upload target must stay a hosted member.
    dropped = owner.patch("orgs/acme/repos/all/", {"members": ["mirror"]})
    assert dropped.status_code == 400
    assert list(error(dropped)["fields"]) == ["upload_target"]
    assert owner.get("orgs/acme/repos/all/").json()["members"] == ["mirror", "other", "main"]


def test_it_names_the_rule_line_it_cannot_read(world: World) -> None:
    _proxy(world)
    response = as_actor(world, "admin").patch(
        "orgs/acme/repos/mirror/", {"deny_rules": "# known bad\nrequests\nnot a name!"}
    )
    assert response.status_code == 400
    body = error(response)
    assert list(body["fields"]) == ["deny_rules"]
    assert body["message"].startswith("deny_rules: Line 3 ('not a name!')")
    assert Repository.objects.get(slug="mirror").deny_rules == ""


def test_it_refuses_a_setting_of_another_kind_and_a_change_of_kind(world: World) -> None:
    _proxy(world)
    owner = as_actor(world, "owner")
    hosted = owner.post("orgs/acme/repos/", {"slug": "libs", "upstream_url": "https://x.test/"})
    assert hosted.status_code == 400
    assert error(hosted)["fields"] == {
        "upstream_url": ["A hosted repository has no 'upstream_url' setting."]
    }
    assert not Repository.objects.filter(slug="libs").exists()
    members = owner.patch("orgs/acme/repos/mirror/", {"members": ["main"]})
    assert error(members)["fields"] == {"members": ["A proxy repository has no 'members' setting."]}
    kind = owner.patch("orgs/acme/repos/main/", {"kind": "proxy", "description": "x"})
    assert kind.status_code == 400
    assert list(error(kind)["fields"]) == ["kind"]
    assert "stays one" in error(kind)["message"]
    assert Repository.objects.get(pk=world.repo_a.pk).kind == "hosted"
    assert owner.patch("orgs/acme/repos/main/", {"kind": "hosted"}).status_code == 200


def test_it_shows_and_purges_what_a_proxy_cached(world: World) -> None:
    proxy = _proxy(world)
    cached_project(proxy, "django", [100, 250])
    cached_project(proxy, "requests", [40], error="The upstream did not answer within 10 seconds.")
    # A page fetched, none of its files yet: listed first by name, with no files and 0 bytes.
    cached_project(proxy, "attrs", [])
    admin = as_actor(world, "admin")
    cached = admin.get("orgs/acme/repos/mirror/cache/").json()["results"]
    assert [(p["name"], p["file_count"], p["stored_bytes"]) for p in cached] == [
        ("attrs", 0, 0),
        ("django", 2, 350),
        ("requests", 1, 40),
    ]
    assert cached[2]["last_error"] == "The upstream did not answer within 10 seconds."
    assert cached[1]["fetched_at"] is not None
    one = admin.delete("orgs/acme/repos/mirror/cache/Requests/")
    assert (one.status_code, one.json()) == (200, {"purged": 1})
    assert sorted(CachedProject.objects.values_list("normalized_name", flat=True)) == [
        "attrs",
        "django",
    ]
    everything = admin.delete("orgs/acme/repos/mirror/cache/")
    assert everything.json() == {"purged": 2}
    assert not CachedProject.objects.exists()
    assert not CachedFile.objects.exists()
    purges = AuditEvent.objects.filter(action="repository.purge").order_by("pk")
    assert [(e.details["project"], e.details["projects"]) for e in purges] == [
        ("Requests", 1),
        (None, 2),
    ]
    hosted = admin.get("orgs/acme/repos/main/cache/")
    assert hosted.status_code == 404
    assert "only proxy repositories have a cache" in error(hosted)["message"]


def test_it_adds_and_removes_an_upstream_override_with_its_reason(world: World) -> None:
    _proxy(world)
    _virtual(world, ["main", "mirror"])
    owner = as_actor(world, "owner")
    added = owner.send("PUT", "orgs/acme/repos/all/overrides/Acme_Lib/", {"reason": "fork of x"})
    assert added.status_code == 200, added.content
    assert (added.json()["name"], added.json()["reason"]) == ("acme-lib", "fork of x")
    listed = owner.get("orgs/acme/repos/all/overrides/").json()["results"]
    assert [o["name"] for o in listed] == ["acme-lib"]
    assert owner.delete("orgs/acme/repos/all/overrides/acme-lib/").status_code == 204
    assert owner.get("orgs/acme/repos/all/overrides/").json()["results"] == []
    events = AuditEvent.objects.filter(action__startswith="repository.upstream_").order_by("pk")
    assert [(e.action, e.details["project"], e.actor_label) for e in events] == [
        ("repository.upstream_allow", "acme-lib", "owner@acme.test"),
        ("repository.upstream_deny", "acme-lib", "owner@acme.test"),
    ]
    assert events[0].details["reason"] == "fork of x"
    hosted = owner.send("PUT", "orgs/acme/repos/main/overrides/acme-lib/", {})
    assert hosted.status_code == 400
    assert "only virtual repositories" in error(hosted)["message"]
    hosted_list = owner.get("orgs/acme/repos/main/overrides/")
    assert (hosted_list.status_code, error(hosted_list)["message"]) == (
        404,
        "'acme/main' is a hosted repository; only virtual repositories have upstream overrides.",
    )


def test_it_lets_no_member_reader_or_key_change_kinds_caches_or_overrides(world: World) -> None:
    proxy = _proxy(world, allow_rules="requests")
    _virtual(world, ["main", "mirror"])
    cached_project(proxy, "requests", [10])
    changes = [
        ("POST", "orgs/acme/repos/", {"slug": "mirror2", "kind": "proxy"}),
        ("PATCH", "orgs/acme/repos/mirror/", {"allow_rules": ""}),
        ("PATCH", "orgs/acme/repos/all/", {"members": ["mirror", "main"]}),
        ("DELETE", "orgs/acme/repos/mirror/cache/", None),
        ("DELETE", "orgs/acme/repos/mirror/cache/requests/", None),
        ("PUT", "orgs/acme/repos/all/overrides/acme-lib/", {"reason": "x"}),
        ("DELETE", "orgs/acme/repos/all/overrides/acme-lib/", None),
    ]
    UpstreamOverride.objects.create(
        repository=Repository.objects.get(slug="all"), normalized_name="acme-lib"
    )
    for actor in ("member", "reader", "key_upload", "key_personal"):
        api = as_actor(world, actor)
        for method, path, data in changes:
            assert api.send(method, path, data).status_code == 403, (actor, method, path)
    # Another organization finds nothing at all, not even what there is to read.
    for actor in ("b_member", "key_b"):
        api = as_actor(world, actor)
        for method, path, data in changes[1:]:
            assert api.send(method, path, data).status_code == 404, (actor, method, path)
        assert api.get("orgs/acme/repos/mirror/cache/").status_code == 404
        assert api.get("orgs/acme/repos/all/overrides/").status_code == 404
    proxy.refresh_from_db()
    assert proxy.allow_rules == "requests"
    assert CachedProject.objects.filter(repository=proxy).count() == 1
    assert UpstreamOverride.objects.count() == 1
    assert [m.member.slug for m in Repository.objects.get(slug="all").memberships.all()] == [
        "main",
        "mirror",
    ]
    # Readers see what is cached and overridden, as on the repository's page.
    assert (
        len(as_actor(world, "reader").get("orgs/acme/repos/mirror/cache/").json()["results"]) == 1
    )
    assert as_actor(world, "key_read").get("orgs/acme/repos/all/overrides/").status_code == 200


def test_it_keeps_a_snapshot_date_and_clears_it_with_null(world: World) -> None:
    _proxy(world)
    admin = as_actor(world, "admin")
    when = (timezone.now() - timedelta(days=30)).replace(microsecond=0)
    set_ = admin.patch("orgs/acme/repos/mirror/", {"snapshot_at": when.isoformat()})
    assert set_.json()["snapshot_at"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
    cleared = admin.patch("orgs/acme/repos/mirror/", {"snapshot_at": None, "cooldown_days": None})
    assert (cleared.json()["snapshot_at"], cleared.json()["cooldown_days"]) == (None, None)


def test_it_leaves_credentials_written_into_the_upstream_url_out(world: World) -> None:
    _proxy(world, upstream_url="https://bot:url-secret@mirror.example:8443/simple/")
    for actor in ("owner", "key_read"):
        body = as_actor(world, actor).get("orgs/acme/repos/mirror/")
        assert body.json()["upstream_url"] == "https://mirror.example:8443/simple/"
        assert "url-secret" not in body.content.decode()
