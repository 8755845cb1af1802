"""Dashboard pages in-process: what each role sees and may change, filters, usage, snippets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import organization_create
from registry.models import DeletedFilename
from registry.models import File
from registry.models import Release
from registry.services import repository_update
from tests.world import World
from tests.world import _ready_file
from tests.world import as_user

pytestmark = pytest.mark.django_db

PROJECT = "/orgs/acme/repos/main/projects/acme-lib/"
RELEASE = f"{PROJECT}versions/1.0/"


@pytest.fixture(autouse=True)
def public_url(settings: Any) -> None:
    settings.PUBLIC_URL = "https://packages.example.com"


def text(response: Any) -> str:
    return response.content.decode()


def test_it_offers_yank_and_delete_only_to_roles_that_may(world: World) -> None:
    assert "Reason for yanking 1.0" in text(as_user(world, "admin").get(PROJECT))
    for role in ("member", "reader"):
        page = text(as_user(world, role).get(PROJECT))
        assert world.file.filename in page
        assert world.file.sha256 in page
        assert "Reason for yanking" not in page
        assert "Delete…" not in page


def test_it_yanks_with_a_reason_for_admins_and_refuses_members(world: World) -> None:
    refused = as_user(world, "member").post(f"{RELEASE}yank/", {"reason": "nope"})
    assert refused.status_code == 403
    assert not Release.objects.get(pk=world.file.release_id).yanked
    admin = as_user(world, "admin")
    response = admin.post(f"{RELEASE}yank/", {"reason": "Leaks a token"}, follow=True)
    release = Release.objects.get(pk=world.file.release_id)
    assert (release.yanked, release.yanked_reason) == (True, "Leaks a token")
    assert "acme-lib 1.0 yanked" in text(response)
    event = AuditEvent.objects.get(action="release.yank")
    assert event.actor_label == "admin@acme.test"
    admin.post(f"{RELEASE}unyank/")
    assert not Release.objects.get(pk=world.file.release_id).yanked


def test_it_finds_a_release_and_project_under_any_spelling_of_their_names(world: World) -> None:
    # The release was uploaded as 1.0 of acme-lib; PEP 440 and PEP 503 say these are the same.
    admin = as_user(world, "admin")
    other_spelling = "/orgs/acme/repos/main/projects/Acme_Lib/versions/1.0.0/"
    assert admin.get(f"{other_spelling}delete/").status_code == 200

    response = admin.post(f"{other_spelling}yank/", {"reason": "typo"})

    assert response.status_code == 302
    release = Release.objects.get(pk=world.file.release_id)
    assert (release.version, release.yanked) == ("1.0", True)
    missing = admin.post("/orgs/acme/repos/main/projects/acme-lib/versions/1.0.1/yank/")
    assert missing.status_code == 404


def test_it_asks_before_deleting_a_file_and_then_retires_its_name(world: World) -> None:
    admin = as_user(world, "admin")
    url = f"{RELEASE}files/{world.file.pk}/delete/"
    confirm = admin.get(url)
    assert confirm.status_code == 200
    assert f"Delete file {world.file.filename}" in text(confirm)
    assert File.objects.filter(pk=world.file.pk).exists()
    done = admin.post(url, follow=True)
    assert "its name can never be reused" in text(done)
    assert not File.objects.filter(pk=world.file.pk).exists()
    assert DeletedFilename.objects.filter(filename=world.file.filename).exists()


def test_it_keeps_files_when_the_repository_policy_forbids_deletion(world: World) -> None:
    admin = as_user(world, "admin")
    saved = admin.post(
        "/orgs/acme/repos/main/settings/",
        {"slug": "main", "description": "pinned builds", "allow_file_deletion": ""},
        follow=True,
    )
    assert "Repository settings saved." in text(saved)
    world.repo_a.refresh_from_db()
    assert world.repo_a.allow_file_deletion is False
    event = AuditEvent.objects.get(action="repository.update")
    assert event.details["after"]["allow_file_deletion"] is False
    page = text(admin.get(PROJECT))
    assert "releases can be yanked, not deleted" in page
    refused = admin.post(f"{RELEASE}delete/", follow=True)
    assert "does not allow deleting files" in text(refused)
    assert Release.objects.filter(pk=world.file.release_id).exists()


def test_it_searches_projects_by_name_and_summary(world: World) -> None:
    Release.objects.filter(pk=world.file.release_id).update(summary="Rocket fuel helpers")
    client = as_user(world, "reader")
    for query, found in (("acme_lib", True), ("FUEL", True), ("nothing-here", False)):
        page = text(client.get("/orgs/acme/repos/main/", {"q": query}))
        assert ('href="/orgs/acme/repos/main/projects/acme-lib/"' in page) is found, query
    assert "No project matches" in text(client.get("/orgs/acme/repos/main/", {"q": "zzz"}))


def test_it_shows_the_organizations_usage(world: World) -> None:
    page = text(as_user(world, "reader").get("/orgs/acme/"))
    stats = dict(
        re.findall(r'<span class="muted small">(\w+)</span><strong>([^<]+)</strong>', page)
    )
    assert stats["Files"] == "1"
    assert stats["Projects"] == "1"
    assert stats["Repositories"] == "2"
    assert stats["Storage"].replace("\xa0", " ") == f"{world.file.size} bytes"
    assert "globex" not in page.lower()


def test_it_tells_a_new_organization_what_to_do_next(world: World) -> None:
    organization_create(slug="fresh", name="Fresh", creator=world.users["reader"])
    page = text(as_user(world, "reader").get("/orgs/fresh/"))
    assert "Set up your first repository" in page
    assert 'href="/orgs/fresh/repos/new/"' in page
    reader_view = text(as_user(world, "reader").get("/orgs/acme/repos/other/"))
    assert "No packages yet" in reader_view


def test_it_fills_client_snippets_with_the_public_urls(world: World) -> None:
    page = text(as_user(world, "reader").get("/orgs/acme/repos/main/connect/"))
    snippets = "\n".join(re.findall(r"<pre>(.*?)</pre>", page, re.S))
    index = "https://packages.example.com/acme/main/simple/"
    upload = "https://packages.example.com/acme/main/legacy/"
    assert f"index-url = {index}" in snippets
    with_token = "https://__token__:${WHEELHOUSE_TOKEN}@packages.example.com/acme/main/simple/"
    assert f"pip install --index-url {with_token}" in snippets
    assert "machine packages.example.com" in snippets
    assert f"url = &quot;{index}&quot;" in snippets
    assert f"uv publish --publish-url {upload}" in snippets
    assert f"repository = {upload}" in snippets
    assert "extra-index-url" not in snippets
    assert "dependency confusion" in page


def test_it_filters_the_audit_log_by_actor_action_and_day(world: World) -> None:
    admin = as_user(world, "admin")
    admin.post(f"{RELEASE}yank/", {"reason": "bad build"})
    AuditEvent.objects.filter(action="organization.create").update(
        created_at=timezone.now() - timedelta(days=3)
    )

    def rows(**query: str) -> list[str]:
        page = text(admin.get("/orgs/acme/audit/", query))
        return re.findall(r"<code>([a-z_.]+)</code>", page)

    assert rows(action="release.yank") == ["release.yank"]
    assert set(rows(who="admin@")) == {"release.yank"}
    today = timezone.now().date()
    assert "organization.create" not in rows(since=str(today))
    assert rows(until=str(today - timedelta(days=2))) == ["organization.create"]
    assert "No events match" in text(admin.get("/orgs/acme/audit/", {"who": "nobody"}))


def test_it_shows_why_a_file_was_rejected(world: World) -> None:
    File.objects.filter(pk=world.file.pk).update(
        status="rejected", rejection_reason="METADATA names acme-other, not acme-lib."
    )
    page = text(as_user(world, "member").get(PROJECT))
    assert "rejected" in page
    assert "METADATA names acme-other, not acme-lib." in page


@pytest.mark.django_db(transaction=True)  # mail goes out on commit
def test_it_returns_to_this_site_only_after_sign_up(world: World, mailoutbox: list[Any]) -> None:
    password = {"new_password1": "a-long-passphrase-9", "new_password2": "a-long-passphrase-9"}
    for email, next_url, lands in (
        ("new@acme.test", "/accounts/invitations/x/", "/accounts/invitations/x/"),
        ("other@acme.test", "https://evil.example/", "/orgs/"),
    ):
        Client().post("/accounts/signup/", {"email": email, "next": next_url})
        link = re.findall(r"http\S+", mailoutbox[-1].body)[0]
        # The emailed link itself remembers where to return: its form posts back to it.
        done = Client().post(link, password)
        assert done.headers["Location"] == lands
    # Another site slipped into the password form is refused there too.
    Client().post("/accounts/signup/", {"email": "third@acme.test"})
    link = re.findall(r"http\S+", mailoutbox[-1].body)[0]
    done = Client().post(link, {**password, "next": "https://evil.example/"})
    assert done.headers["Location"] == "/orgs/"


def test_it_lowers_the_repository_upload_limit_within_the_server_limit(
    world: World, settings: Any
) -> None:
    settings.MAX_UPLOAD_SIZE = 100 * 1024 * 1024
    admin = as_user(world, "admin")
    url = "/orgs/acme/repos/main/settings/"
    fields = {"slug": "main", "description": "", "allow_file_deletion": "on"}
    too_big = admin.post(url, {**fields, "max_file_size_mib": "101"})
    assert "less than or equal to 100" in text(too_big)
    world.repo_a.refresh_from_db()
    assert world.repo_a.max_file_size is None
    admin.post(url, {**fields, "max_file_size_mib": "5"})
    world.repo_a.refresh_from_db()
    assert world.repo_a.upload_size_limit == 5 * 1024 * 1024
    assert "5.0\xa0MB per file" in text(admin.get("/orgs/acme/repos/main/connect/"))
    admin.post(url, {**fields, "max_file_size_mib": ""})
    world.repo_a.refresh_from_db()
    assert world.repo_a.max_file_size is None


def test_it_keeps_policies_a_caller_does_not_pass(world: World) -> None:
    world.repo_a.max_file_size = 1024
    world.repo_a.allow_file_deletion = False
    world.repo_a.save()
    repository_update(
        repository=world.repo_a, actor=world.users["admin"], slug="main", description="renamed"
    )
    world.repo_a.refresh_from_db()
    assert (world.repo_a.max_file_size, world.repo_a.allow_file_deletion) == (1024, False)


def _pending_copy(file: File, filename: str) -> File:
    pending = File.objects.get(pk=file.pk)
    pending.pk = None
    pending.filename = filename
    pending.sha256 = "1" * 64
    pending.status = "pending"
    pending.save()
    return pending


def test_it_counts_each_repositorys_projects_and_ready_files(world: World) -> None:
    _ready_file(world.repo_a, "acme-tools")
    _pending_copy(world.file, "acme_lib-1.0-py2-none-any.whl")
    page = text(as_user(world, "reader").get("/orgs/acme/"))
    rows = re.findall(
        r'<strong>([\w-]+)</strong></a>.*?<td data-label="Projects" class="num">(\d+)</td>\s*'
        r'<td data-label="Files" class="num">(\d+)</td>',
        page,
        re.DOTALL,
    )
    # Two projects; two ready files (the pending one is not counted), however they join.
    assert rows == [("main", "2", "2"), ("other", "0", "0")]


def test_it_shows_each_projects_release_count_and_last_release(world: World) -> None:
    first = Release.objects.get(pk=world.file.release_id)
    later = Release.objects.create(
        project=first.project, version="2.0", canonical_version="2", summary="Rocket fuel"
    )
    Release.objects.filter(pk=first.pk).update(created_at=later.created_at - timedelta(days=3))
    client = as_user(world, "reader")
    for query in ("", "acme", "fuel"):
        page = text(client.get("/orgs/acme/repos/main/", {"q": query}))
        row = re.search(r"<strong>acme-lib</strong></a>(.*?)</tr>", page, re.DOTALL)
        assert row is not None, query
        assert '<div class="small muted">Rocket fuel</div>' in row.group(1), query
        assert '<td data-label="Latest version"><code>2.0</code></td>' in row.group(1), query
        count, updated = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
        assert count == "2", query
        assert updated == timezone.localtime(later.created_at).strftime("%Y-%m-%d %H:%M"), query


def test_only_who_may_change_an_organizations_settings_opens_their_page(world: World) -> None:
    assert as_user(world, "owner").get("/orgs/acme/settings/").status_code == 200
    assert as_user(world, "member").get("/orgs/acme/settings/").status_code == 403
    assert as_user(world, "reader").get("/orgs/acme/settings/").status_code == 403
    assert as_user(world, "b_member").get("/orgs/acme/settings/").status_code == 404


def test_the_organization_list_shows_only_the_users_own_organizations(
    world: World,
) -> None:
    page = text(as_user(world, "reader").get("/orgs/"))
    assert 'href="/orgs/acme/"' in page
    assert "globex" not in page.lower()
