"""Proxy and virtual repositories in the dashboard: creating and editing each kind, what a
proxy cached and purging it, a virtual repository's members and overrides, which URL to use,
and that the upstream password never reaches a page."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import Repository
from registry.models import UpstreamOverride
from registry.services import repository_create
from tests.world import World
from tests.world import as_user
from tests.world import cached_project

pytestmark = pytest.mark.django_db

PASSWORD = "upstream-secret-never-shown"
NEW = "/orgs/acme/repos/new/"


@pytest.fixture(autouse=True)
def public_url(settings: Any) -> None:
    settings.PUBLIC_URL = "https://packages.example.com"


def text(response: Any) -> str:
    return response.content.decode()


def _proxy(world: World, **options: Any) -> Repository:
    return repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="mirror", kind="proxy",
        upstream_password=PASSWORD, **options,
    )  # fmt: skip


def _virtual(world: World) -> Repository:
    return repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="combined", kind="virtual",
        members=["main", "mirror"], upload_target="main",
    )  # fmt: skip


def _members(slug: str) -> list[str]:
    repository = Repository.objects.get(slug=slug)
    return [m.member.slug for m in repository.memberships.all()]


def test_it_creates_each_kind_through_the_new_repository_form(world: World) -> None:
    admin = as_user(world, "admin")
    form = text(admin.get(NEW))
    assert 'value="https://pypi.org/simple/"' in form
    assert 'type="password" name="upstream_password"' in form
    assert "One project per line" in form
    assert "private names always win" in form
    hosted = admin.post(NEW, {"slug": "libs", "kind": "hosted", "upstream_url": ""})
    assert hosted.headers["Location"] == "/orgs/acme/repos/libs/connect/"
    proxy = admin.post(
        NEW,
        {
            "slug": "mirror", "kind": "proxy", "upstream_url": "https://pypi.org/simple/",
            "upstream_username": "bot", "upstream_password": PASSWORD, "cache_ttl": "300",
            "cooldown_days": "7", "snapshot_at": "2026-01-15T12:30",
            "deny_rules": "evil-package\ndjango<4", "exempt_names": "urllib3",
            # Another kind's fields are ignored.
            "members": "main",
        },
    )  # fmt: skip
    assert proxy.status_code == 302, text(proxy)
    virtual = admin.post(
        NEW,
        {"slug": "combined", "kind": "virtual", "members": " libs\n\nmirror \n",
         "upload_target": "libs", "upstream_url": "https://pypi.org/simple/"},
    )  # fmt: skip
    assert virtual.status_code == 302, text(virtual)
    kinds = dict(Repository.objects.filter(organization=world.org_a).values_list("slug", "kind"))
    assert kinds == {
        "main": "hosted", "other": "hosted", "libs": "hosted", "mirror": "proxy",
        "combined": "virtual",
    }  # fmt: skip
    mirror = Repository.objects.get(slug="mirror")
    assert (mirror.upstream_username, mirror.upstream_password) == ("bot", PASSWORD)
    assert (mirror.cache_ttl, mirror.cooldown_days) == (300, 7)
    assert mirror.snapshot_at is not None
    assert mirror.snapshot_at.isoformat() == "2026-01-15T12:30:00+00:00"
    assert mirror.deny_rules == "evil-package\ndjango<4"
    assert _members("combined") == ["libs", "mirror"]
    assert Repository.objects.get(slug="combined").upload_target == Repository.objects.get(
        slug="libs"
    )
    created = AuditEvent.objects.filter(action="repository.create", actor_user__isnull=False)
    assert sorted(e.details["kind"] for e in created) == ["hosted", "proxy", "virtual"]
    page = text(admin.get("/orgs/acme/"))
    rows = dict(
        re.findall(r"<strong>([\w-]+)</strong></a>.*?<span class=\"badge\"[^>]*>(\w+)<", page, re.S)
    )
    assert rows == kinds


def _upload_targets(page: str) -> list[str]:
    select = re.search(r'<select name="upload_target".*?</select>', page, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(0))


def test_it_offers_only_the_organizations_hosted_repositories_as_upload_target(
    world: World,
) -> None:
    _proxy(world)
    _virtual(world)
    admin = as_user(world, "admin")
    assert _upload_targets(text(admin.get(NEW))) == ["", "main", "other"]
    settings_page = text(admin.get("/orgs/acme/repos/combined/settings/"))
    assert _upload_targets(settings_page) == ["", "main", "other"]


def test_it_shows_what_the_services_refuse_under_the_field(world: World) -> None:
    admin = as_user(world, "admin")
    bad_rule = admin.post(
        NEW, {"slug": "mirror", "kind": "proxy", "allow_rules": "requests\nnot a name!"}
    )
    assert bad_rule.status_code == 200
    assert "Line 2 (&#x27;not a name!&#x27;)" in text(bad_rule)
    unknown = admin.post(NEW, {"slug": "combined", "kind": "virtual", "members": "main\nnope"})
    assert "No repository &#x27;nope&#x27; in this organization." in text(unknown)
    assert not Repository.objects.filter(slug__in=["mirror", "combined"]).exists()


def test_it_never_shows_the_upstream_password_on_any_page(world: World) -> None:
    _proxy(world, cooldown_days=2)
    _virtual(world)
    cached_project(Repository.objects.get(slug="mirror"), "requests", [10])
    owner = as_user(world, "owner")
    for url in (
        "/orgs/acme/", "/orgs/acme/repos/mirror/", "/orgs/acme/repos/mirror/connect/",
        "/orgs/acme/repos/mirror/settings/", "/orgs/acme/repos/combined/",
        "/orgs/acme/repos/combined/connect/", "/orgs/acme/repos/main/connect/",
        "/orgs/acme/audit/", NEW,
    ):  # fmt: skip
        response = owner.get(url)
        assert response.status_code == 200, url
        assert PASSWORD not in text(response), url
    settings_page = text(owner.get("/orgs/acme/repos/mirror/settings/"))
    field = re.search(r'<input type="password" name="upstream_password"[^>]*>', settings_page)
    assert field is not None
    assert "value=" not in field.group(0)


def test_it_keeps_clears_and_changes_proxy_settings(world: World) -> None:
    _proxy(world)
    admin = as_user(world, "admin")
    url = "/orgs/acme/repos/mirror/settings/"
    fields = {
        "slug": "mirror", "allow_file_deletion": "on", "upstream_url": "https://pypi.org/simple/",
        "cache_ttl": "600", "allow_rules": "requests", "cooldown_days": "3",
    }  # fmt: skip
    saved = admin.post(url, {**fields, "upstream_password": ""})
    assert saved.status_code == 302, text(saved)
    mirror = Repository.objects.get(slug="mirror")
    assert (mirror.upstream_password, mirror.allow_rules, mirror.cooldown_days) == (
        PASSWORD,
        "requests",
        3,
    )
    refused = admin.post(url, {**fields, "deny_rules": "flask[async]"})
    assert "Line 1 (&#x27;flask[async]&#x27;): only a name" in text(refused)
    assert Repository.objects.get(slug="mirror").deny_rules == ""
    admin.post(url, {**fields, "clear_upstream_password": "on"})
    assert Repository.objects.get(slug="mirror").upstream_password == ""
    admin.post(url, {**fields, "upstream_password": "new-token"})
    assert Repository.objects.get(slug="mirror").upstream_password == "new-token"
    passwords = [
        e.details["settings"].get("upstream_password")
        for e in AuditEvent.objects.filter(action="repository.update").order_by("pk")
        if "settings" in e.details
    ]
    assert [p for p in passwords if p] == ["cleared", "set"]


def test_it_reorders_a_virtual_repositorys_members(world: World) -> None:
    _proxy(world)
    _virtual(world)
    admin = as_user(world, "admin")
    url = "/orgs/acme/repos/combined/settings/"
    page = text(admin.get(url))
    assert "main\nmirror</textarea>" in page
    fields = {"slug": "combined", "allow_file_deletion": "on", "upload_target": "main"}
    saved = admin.post(url, {**fields, "members": "mirror\nother\nmain"})
    assert saved.status_code == 302, text(saved)
    assert _members("combined") == ["mirror", "other", "main"]
    event = AuditEvent.objects.filter(action="repository.update").latest("pk")
    assert event.details["members"] == ["mirror", "other", "main"]
    shown = text(admin.get("/orgs/acme/repos/combined/"))
    assert re.findall(r'<li><a href="/orgs/acme/repos/([\w-]+)/">', shown) == [
        "mirror",
        "other",
        "main",
    ]
    refused = admin.post(url, {**fields, "members": "mirror"})
    assert "The upload target must be a hosted member" in text(refused)
    assert _members("combined") == ["mirror", "other", "main"]


def test_it_shows_and_purges_a_proxys_cache(world: World) -> None:
    proxy = _proxy(world, cooldown_days=7, allow_rules="requests\ndjango>=4.2", deny_rules="evil")
    cached_project(proxy, "django", [2048, 1024])
    cached_project(proxy, "requests", [100], error="The upstream did not answer within 10 seconds.")
    admin = as_user(world, "admin")
    page = text(admin.get("/orgs/acme/repos/mirror/"))
    assert "A proxy of <code>https://pypi.org/simple/</code>" in page
    assert "Only these projects and versions are listed: requests, django&gt;=4.2." in page
    assert "Never listed: evil." in page
    assert "A file is listed 7 days after its upload upstream" in page
    assert "The upstream did not answer within 10 seconds." in page
    assert "3.0\xa0KB" in page
    assert "Purge all" in page
    purged = admin.post("/orgs/acme/repos/mirror/cache/requests/purge/", follow=True)
    assert "Purged requests" in text(purged)
    assert list(CachedProject.objects.values_list("name", flat=True)) == ["django"]
    admin.post("/orgs/acme/repos/mirror/cache/purge/")
    assert not CachedProject.objects.exists()
    assert not CachedFile.objects.exists()
    events = AuditEvent.objects.filter(action="repository.purge").order_by("pk")
    assert [(e.details["project"], e.actor_label) for e in events] == [
        ("requests", "admin@acme.test"),
        (None, "admin@acme.test"),
    ]
    assert "Nothing cached yet" in text(admin.get("/orgs/acme/repos/mirror/"))


def _cache_card(page: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The proxy page's cache totals (label: value) and its rows (name, files, stored)."""
    card = page[page.index('aria-label="Cache"') :]
    totals = dict(re.findall(r'<span class="muted small">([\w ]+)</span><strong>([^<]*)<', card))
    rows = re.findall(
        r'<td><strong>([\w-]+)</strong>.*?</td>\s*<td class="num">(\d+)</td>\s*'
        r'<td class="num">([^<]+)</td>',
        card,
    )
    return totals, rows


def test_it_counts_what_a_proxy_cached_in_total_and_project_by_project(world: World) -> None:
    admin = as_user(world, "admin")
    proxy = _proxy(world)
    empty = _cache_card(text(admin.get("/orgs/acme/repos/mirror/")))
    assert empty == (
        {
            "Projects": "0",
            "Files": "0",
            "Stored": "0\xa0bytes",
            "Last refresh": "never",
            "Upstream errors": "0",
        },
        [],
    )
    cached_project(proxy, "zope", [10, 20, 30])
    cached_project(proxy, "attrs", [])
    cached_project(proxy, "django", [2048, 1024], error="The upstream answered 503.")
    refreshed = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    CachedProject.objects.filter(name="django").update(fetched_at=refreshed)
    CachedProject.objects.exclude(name="django").update(fetched_at=refreshed - timedelta(days=9))
    # Another proxy's cache counts only there.
    other = repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="mirror2", kind="proxy"
    )
    cached_project(other, "numpy", [4096], error="The upstream answered 500.")
    totals, rows = _cache_card(text(admin.get("/orgs/acme/repos/mirror/")))
    assert totals == {
        "Projects": "3", "Files": "5", "Stored": "3.1\xa0KB", "Last refresh": "2026-03-04 05:06",
        "Upstream errors": "1",
    }  # fmt: skip
    assert rows == [
        ("attrs", "0", "0\xa0bytes"),
        ("django", "2", "3.0\xa0KB"),
        ("zope", "3", "60\xa0bytes"),
    ]


def test_it_adds_and_removes_upstream_overrides(world: World) -> None:
    _proxy(world)
    _virtual(world)
    admin = as_user(world, "admin")
    page = text(admin.get("/orgs/acme/repos/combined/"))
    assert "Private names always win." in page
    assert "Uploads: to this repository" in page
    added = admin.post(
        "/orgs/acme/repos/combined/overrides/",
        {"name": "Acme_Lib", "reason": "we track upstream"},
        follow=True,
    )
    assert "Upstream versions of Acme_Lib are now listed" in text(added)
    assert "<code>acme-lib</code></td><td>we track upstream</td>" in text(added)
    admin.post("/orgs/acme/repos/combined/overrides/acme-lib/remove/")
    assert not UpstreamOverride.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="repository.upstream_").order_by("pk")
    assert [(e.action, e.details["project"]) for e in events] == [
        ("repository.upstream_allow", "acme-lib"),
        ("repository.upstream_deny", "acme-lib"),
    ]


def test_it_gives_members_no_forms_and_refuses_their_posts(world: World) -> None:
    proxy = _proxy(world)
    _virtual(world)
    cached_project(proxy, "requests", [10])
    UpstreamOverride.objects.create(
        repository=Repository.objects.get(slug="combined"), normalized_name="acme-lib"
    )
    posts = [
        ("/orgs/acme/repos/mirror/cache/purge/", {}),
        ("/orgs/acme/repos/mirror/cache/requests/purge/", {}),
        ("/orgs/acme/repos/combined/overrides/", {"name": "x"}),
        ("/orgs/acme/repos/combined/overrides/acme-lib/remove/", {}),
        ("/orgs/acme/repos/combined/settings/", {"slug": "combined", "members": "mirror"}),
        (
            "/orgs/acme/repos/mirror/settings/",
            {"slug": "mirror", "upstream_url": "https://x.test/"},
        ),
        (NEW, {"slug": "sneaky", "kind": "proxy"}),
    ]
    for role in ("member", "reader"):
        client = as_user(world, role)
        proxy_page = text(client.get("/orgs/acme/repos/mirror/"))
        assert "requests" in proxy_page
        assert "Purge" not in proxy_page
        virtual_page = text(client.get("/orgs/acme/repos/combined/"))
        assert "acme-lib" in virtual_page
        assert "Allow upstream versions" not in virtual_page
        assert "Remove" not in virtual_page
        for url, data in posts:
            assert client.post(url, data).status_code == 403, (role, url)
    outsider = as_user(world, "b_member")
    for url, data in posts[:-1]:
        assert outsider.post(url, data).status_code == 404, url
    assert outsider.get("/orgs/acme/repos/mirror/").status_code == 404
    assert CachedProject.objects.count() == 1
    assert UpstreamOverride.objects.count() == 1
    assert _members("combined") == ["main", "mirror"]
    assert Repository.objects.get(slug="mirror").upstream_url == "https://pypi.org/simple/"
    assert not Repository.objects.filter(slug="sneaky").exists()


def test_it_tells_which_url_to_install_from(world: World) -> None:
    _proxy(world)
    _virtual(world)
    reader = as_user(world, "reader")
    virtual = text(reader.get("/orgs/acme/repos/combined/connect/"))
    assert "Use this URL as your only index" in virtual
    assert "mirror (proxy, a cache of https://pypi.org/simple/)" in virtual
    assert "Uploads land in main." in virtual
    proxy = text(reader.get("/orgs/acme/repos/mirror/connect/"))
    assert "a cache of <code>https://pypi.org/simple/</code>" in proxy
    assert "A proxy refuses uploads." in proxy
    hosted = text(reader.get("/orgs/acme/repos/main/connect/"))
    assert "To install, use" in hosted
    assert "<code>https://packages.example.com/acme/combined/simple/</code>" in hosted
    assert "Part of" in text(reader.get("/orgs/acme/repos/main/"))
    alone = text(reader.get("/orgs/acme/repos/other/connect/"))
    assert "To install, use" not in alone


def _queries(client: Client, url: str) -> int:
    client.get(url)  # the first request may write (the session)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_it_costs_the_same_queries_however_much_is_cached_or_overridden(world: World) -> None:
    proxy = _proxy(world)
    virtual = _virtual(world)
    admin = as_user(world, "admin")
    few, many = [], []
    for counts in (few, many):
        start = CachedProject.objects.count()
        for i in range(start, 2 if counts is few else 11):
            cached_project(proxy, f"project-{i}", [10, 20])
            UpstreamOverride.objects.create(repository=virtual, normalized_name=f"name-{i}")
        counts.append(_queries(admin, "/orgs/acme/repos/mirror/"))
        counts.append(_queries(admin, "/orgs/acme/repos/combined/"))
        counts.append(_queries(admin, "/orgs/acme/repos/combined/connect/"))
    assert few == many
    assert "project-10" in text(admin.get("/orgs/acme/repos/mirror/"))


def test_it_shows_readers_the_upstream_without_credentials(world: World) -> None:
    _proxy(world, upstream_url="https://bot:url-secret@mirror.example:8443/simple/")
    _virtual(world)
    reader = as_user(world, "reader")
    for url in ("/orgs/acme/repos/mirror/", "/orgs/acme/repos/mirror/connect/",
                "/orgs/acme/repos/combined/", "/orgs/acme/repos/combined/connect/"):  # fmt: skip
        page = text(reader.get(url))
        assert "https://mirror.example:8443/simple/" in page, url
        assert "url-secret" not in page, url


def test_a_member_names_the_virtual_repositories_it_belongs_to_by_slug_at_one_cost(
    world: World,
) -> None:
    reader = as_user(world, "reader")
    counts = []
    for slug in ("zeta", "alpha", "mid"):
        repository_create(
            organization=world.org_a, actor=world.users["owner"], slug=slug, kind="virtual",
            members=["main"], upload_target="main",
        )  # fmt: skip
        counts.append(
            (
                _queries(reader, "/orgs/acme/repos/main/"),
                _queries(reader, "/orgs/acme/repos/main/connect/"),
            )
        )
    assert counts[0] == counts[2]
    page = text(reader.get("/orgs/acme/repos/main/"))
    part_of = page[page.index("Part of") :].split("</p>")[0]
    assert re.findall(r'<a href="/orgs/acme/repos/([\w-]+)/">', part_of) == ["alpha", "mid", "zeta"]
    connect = text(reader.get("/orgs/acme/repos/main/connect/"))
    parents = re.findall(r'To install, use <a href="[^"]+">([\w-]+)</a>', connect)
    assert parents == ["alpha", "mid", "zeta"]
    # Only virtual repositories of its own organization that list it.
    assert "Part of" not in text(reader.get("/orgs/acme/repos/other/"))
