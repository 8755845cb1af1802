"""A project's README badge (its name and latest version) and the project page's download
links: who sees what. The registry is private: a badge is for those who may read the
repository unless its owners made it public, and then it shows nothing beyond name and
version; a download link works with the person's session, through the index's own access
rule, and a stranger finds nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.models import OrganizationSlugAlias
from accounts.models import User
from accounts.services import organization_update
from registry.models import Project
from registry.models import Release
from registry.models import RepositorySlugAlias
from registry.services import repository_update
from tests.world import World

pytestmark = pytest.mark.django_db

BADGE = "/orgs/acme/repos/main/projects/acme-lib/badge.svg"
BADGE_SET = "/orgs/acme/repos/main/projects/acme-lib/badge/"
PAGE = "/orgs/acme/repos/main/projects/acme-lib/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_members_see_a_private_badge_with_the_latest_version_and_nobody_else(
    world: World,
) -> None:
    project = Project.objects.get(normalized_name="acme-lib")
    # A newer pre-release is not the latest (registry.names), as on pypi.org.
    Release.objects.create(project=project, version="2.0b1", canonical_version="2.0b1")
    badge = logged_in(world.users["reader"]).get(BADGE)
    assert (badge.status_code, badge["Content-Type"]) == (200, "image/svg+xml")
    assert badge["Cache-Control"] == "private, no-cache"
    svg = badge.content.decode()
    assert ">acme-lib</text>" in svg
    assert ">1.0</text>" in svg
    assert "2.0b1" not in svg
    assert Client().get(BADGE).status_code == 404
    assert logged_in(world.users["b_member"]).get(BADGE).status_code == 404
    # An installer's key is not a way in either: badges are read by browsers.
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens['key_read']}")
    assert keyed.get(BADGE).status_code == 404


def test_owners_make_a_badge_public_showing_only_name_and_version(world: World) -> None:
    member = logged_in(world.users["member"])
    assert member.post(BADGE_SET, {"public": "on"}).status_code == 403
    page = logged_in(world.users["admin"]).get(PAGE).content.decode()
    assert "Make the badge public" in page
    assert f"[![acme-lib](http://localhost:8000{BADGE})](http://localhost:8000{PAGE})" in page
    assert f".. image:: http://localhost:8000{BADGE}" in page
    admin = logged_in(world.users["admin"])
    assert admin.post(BADGE_SET, {"public": "on"}).status_code == 302
    anonymous = Client().get(BADGE)
    assert (anonymous.status_code, anonymous["Cache-Control"]) == (200, "public, max-age=300")
    texts = {t for t in anonymous.content.decode().split(">") if t.endswith("</text")}
    assert {t.removesuffix("</text") for t in texts} == {"acme-lib", "1.0"}
    # Only that project's: another of the repository keeps its badge private.
    Project.objects.create(repository=world.repo_a, name="Acme-Tools", normalized_name="acme-tools")
    assert Client().get(BADGE.replace("acme-lib", "acme-tools")).status_code == 404
    # The rest of the project stays private.
    assert Client().get(PAGE).status_code == 302  # to the login page
    assert logged_in(world.users["b_member"]).get(PAGE).status_code == 404
    event = AuditEvent.objects.get(action="project.badge")
    assert (event.actor_label, event.details) == ("admin@acme.test", {"public": True})
    # A README written before a rename keeps its badge, as installers keep their URLs.
    repository_update(repository=world.repo_a, actor=world.users["admin"], slug="core")
    assert Client().get(BADGE).status_code == 200
    renamed = BADGE.replace("/main/", "/core/")
    assert admin.post(renamed.replace("badge.svg", "badge/"), {}).status_code == 302
    assert Client().get(BADGE).status_code == 404
    assert Client().get(renamed).status_code == 404


def test_a_badge_answers_under_former_slugs_until_they_expire_and_under_no_other(
    world: World,
) -> None:
    organization_update(
        organization=world.org_a, actor=world.users["owner"], name="Acme", slug="acme-corp"
    )
    repository_update(repository=world.repo_a, actor=world.users["admin"], slug="core")
    # A member reads the private badge under the former slugs as it is, not a redirect.
    private = logged_in(world.users["reader"]).get(BADGE)
    assert (private.status_code, private["Content-Type"]) == (200, "image/svg+xml")
    assert Client().get(BADGE).status_code == 404
    now = "/orgs/acme-corp/repos/core/projects/acme-lib/badge"
    assert logged_in(world.users["admin"]).post(f"{now}/", {"public": "on"}).status_code == 302
    former_org = "/orgs/acme/repos/core/projects/acme-lib/badge.svg"
    former_repo = "/orgs/acme-corp/repos/main/projects/acme-lib/badge.svg"
    for url in (f"{now}.svg", BADGE, former_org, former_repo):
        assert Client().get(url).status_code == 200, url
    # A slug the project never had finds nothing, while its former ones still answer.
    for url in (
        "/orgs/nowhere/repos/core/projects/acme-lib/badge.svg",
        "/orgs/acme-corp/repos/nowhere/projects/acme-lib/badge.svg",
    ):
        assert Client().get(url).status_code == 404, url
    past = timezone.now() - timedelta(seconds=1)
    OrganizationSlugAlias.objects.update(expires_at=past)
    RepositorySlugAlias.objects.update(expires_at=past)
    for url in (BADGE, former_org, former_repo):
        assert Client().get(url).status_code == 404, url
    assert Client().get(f"{now}.svg").status_code == 200


def test_the_files_table_links_downloads_that_work_with_a_session_only_for_readers(
    world: World,
) -> None:
    url = f"/acme/main/files/{world.file.sha256}/{world.file.filename}"
    page = logged_in(world.users["reader"]).get(PAGE).content.decode()
    assert f'<a href="{url}" download>' in page
    got = logged_in(world.users["reader"]).get(url)
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == b"wheel bytes of acme-lib"  # type: ignore[attr-defined]
    assert logged_in(world.users["b_member"]).get(url).status_code == 404
    assert Client().get(url).status_code == 401  # no session, no key: the installers' answer
