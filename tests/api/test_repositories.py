"""Repositories, projects, releases and files through the API, uploads included."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import AuditEvent
from registry.models import File
from registry.models import FileStatus
from registry.models import Release
from registry.models import Repository
from registry.models import RepositorySlugAlias
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.world import World
from tests.world import _ready_file
from uploads.processing import file_process

pytestmark = pytest.mark.django_db
RELEASE = "orgs/acme/repos/main/projects/acme-lib/releases/1.0/"


def _upload(api: Any, data: bytes, filename: str, **fields: str) -> Any:
    content = SimpleUploadedFile(filename, data, content_type="application/octet-stream")
    return api.client.post("/api/v1/orgs/acme/repos/main/files/", {"content": content, **fields})


def test_it_creates_a_repository_with_its_urls_and_policy(world: World) -> None:
    created = as_actor(world, "admin").post(
        "orgs/acme/repos/", {"slug": "frozen", "allow_file_deletion": False}
    )
    body = created.json()
    assert created.status_code == 201
    assert body["index_url"] == "http://testserver/acme/frozen/simple/"
    assert body["upload_url"] == "http://testserver/acme/frozen/legacy/"
    assert body["allow_file_deletion"] is False
    assert not Repository.objects.get(slug="frozen").allow_file_deletion


def test_it_renames_a_repository_and_refuses_a_clash(world: World) -> None:
    owner = as_actor(world, "owner")
    clash = owner.patch("orgs/acme/repos/main/", {"slug": "other"})
    assert clash.status_code == 400
    assert "already exists" in error(clash)["message"]
    renamed = owner.patch("orgs/acme/repos/main/", {"slug": "primary"})
    assert renamed.json()["index_url"].endswith("/acme/primary/simple/")
    until = (timezone.now() + timedelta(days=90)).date().isoformat()
    [former] = renamed.json()["former_slugs"]
    assert (former["slug"], former["answers_until"][:10]) == ("main", until)
    # Scripts configured with the old URL keep working for a while.
    assert owner.get("orgs/acme/repos/main/").json()["slug"] == "primary"
    RepositorySlugAlias.objects.update(expires_at=timezone.now())  # its time is up
    assert owner.get("orgs/acme/repos/main/").status_code == 404
    assert as_actor(world, "b_member").get("orgs/acme/repos/main/").status_code == 404


def test_it_lists_projects_releases_and_files_with_their_status(world: World) -> None:
    api = as_actor(world, "key_read")
    projects = api.get("orgs/acme/repos/main/projects/", {"name": "ACME"}).json()["results"]
    assert [p["name"] for p in projects] == ["acme-lib"]
    assert api.get("orgs/acme/repos/main/projects/Acme_Lib/").json()["name"] == "acme-lib"
    releases = api.get("orgs/acme/repos/main/projects/acme-lib/releases/").json()["results"]
    assert [r["version"] for r in releases] == ["1.0"]
    detail = api.get("orgs/acme/repos/main/projects/acme-lib/releases/1.0.0/").json()
    assert [f["status"] for f in detail["files"]] == ["ready"]
    files = api.get("orgs/acme/repos/main/files/", {"status": "pending"}).json()
    assert files["count"] == 0
    one = api.get(f"orgs/acme/repos/main/files/{world.file.filename}").json()
    assert one["sha256"] == world.file.sha256
    assert one["url"].endswith(f"/acme/main/files/{world.file.sha256}/{world.file.filename}")


def test_each_refusal_says_what_stood_in_the_way(world: World) -> None:
    """A person's role and a key's missing scope each explain a 403 in their own words, and a
    personal key's user where its scope allowed the action; only a read-only key asked to
    upload is told it is read-only."""
    said = {
        actor: error(as_actor(world, actor).post(f"{RELEASE}yank/"))["message"]
        for actor in ("member", "key_read", "key_upload", "key_personal")
    }
    assert said == {
        "member": "Your role does not allow this (yank).",
        "key_read": "This API key lacks the yank scope.",
        "key_upload": "This API key lacks the yank scope.",
        "key_personal": "This API key lacks the yank scope.",
    }
    # An upload key whose user was demoted to reader: its scope allows uploads, its user not.
    demoted = as_actor(world, "key_personal_demoted", scheme="Basic").client.post(
        "/acme/main/legacy/"
    )
    assert demoted.status_code == 403
    assert "This personal API key's user may not upload here." in demoted.content.decode()


def test_it_yanks_and_unyanks_with_a_reason_for_admins_only(world: World) -> None:
    assert as_actor(world, "member").post(f"{RELEASE}yank/", {"reason": "x"}).status_code == 403
    assert as_actor(world, "key_upload").post(f"{RELEASE}yank/").status_code == 403
    personal = as_actor(world, "key_personal").post(f"{RELEASE}yank/")
    assert (personal.status_code, error(personal)["message"]) == (
        403,
        "This API key lacks the yank scope.",
    )
    demoted = as_actor(world, "key_personal_demoted_admin").post(f"{RELEASE}yank/")
    assert (demoted.status_code, error(demoted)["message"]) == (
        403,
        "This personal API key's user may not yank here.",
    )
    yanked = as_actor(world, "admin").post(f"{RELEASE}yank/", {"reason": "broken build"})
    assert yanked.json()["yanked"] is True
    assert Release.objects.get(project__repository=world.repo_a).yanked_reason == "broken build"
    unyanked = as_actor(world, "owner").post(f"{RELEASE}unyank/")
    assert unyanked.json() | {"created_at": None} == yanked.json() | {
        "yanked": False,
        "yanked_reason": "",
        "created_at": None,
    }
    actions = AuditEvent.objects.filter(action__startswith="release.").values_list("action")
    assert sorted(a for (a,) in actions) == ["release.unyank", "release.yank"]


def test_it_deletes_only_where_the_policy_allows(world: World) -> None:
    owner = as_actor(world, "owner")
    owner.patch("orgs/acme/repos/main/", {"allow_file_deletion": False})
    kept = owner.delete(f"orgs/acme/repos/main/files/{world.file.filename}")
    assert kept.status_code == 409
    assert "yank" in error(kept)["message"]
    assert File.objects.filter(pk=world.file.pk).exists()
    owner.patch("orgs/acme/repos/main/", {"allow_file_deletion": True})
    assert owner.delete(RELEASE).status_code == 204
    assert not Release.objects.filter(project__repository=world.repo_a).exists()


def test_it_uploads_with_a_key_and_reports_processing(world: World) -> None:
    package = Package("api-made", "2.0")
    data = wheel_bytes(package)
    api = as_actor(world, "key_upload")
    created = _upload(api, data, wheel_filename(package))
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "pending"
    assert created.json()["sha256"] == hashlib.sha256(data).hexdigest()
    file_process(file_id=File.objects.get(filename=wheel_filename(package)).pk)
    path = f"orgs/acme/repos/main/files/{wheel_filename(package)}"
    assert api.get(path).json()["status"] == "ready"
    release = api.get("orgs/acme/repos/main/projects/api-made/releases/2.0/").json()
    assert release["summary"] == package.summary
    assert release["metadata"]["name"] == "api-made"
    again = _upload(api, data, wheel_filename(package))
    assert again.status_code == 200


def test_it_records_every_python_tag_of_a_file_only_upload(world: World) -> None:
    """Without form fields the Python version comes from the filename's tags, all of them,
    as twine would have sent it (the JSON API shows it to installers)."""
    package = Package("both-pythons", "1.0")
    filename = f"{package.dist_name}-1.0-py2.py3-none-any.whl"
    created = _upload(as_actor(world, "key_upload"), wheel_bytes(package), filename)
    assert created.status_code == 201, created.content
    assert created.json()["python_version"] == "py2.py3"


def test_it_refuses_uploads_the_legacy_endpoint_would_refuse(world: World) -> None:
    package = Package("api-made", "2.0")
    api = as_actor(world, "key_upload")
    wrong_digest = _upload(
        api, wheel_bytes(package), wheel_filename(package), sha256_digest="0" * 64
    )
    assert wrong_digest.status_code == 400
    assert error(wrong_digest)["message"] == (
        "The digest supplied does not match a digest calculated from the uploaded file."
    )
    not_a_dist = _upload(api, b"hello", "notes.txt")
    assert not_a_dist.status_code == 400
    assert error(not_a_dist)["message"] == (
        "Invalid distribution filename 'notes.txt': expected a wheel or a .tar.gz sdist."
    )
    liar = _upload(api, wheel_bytes(Package("other-name", "2.0")), wheel_filename(package))
    assert liar.status_code == 400
    assert error(liar)["code"] == "upload_refused"
    assert not File.objects.filter(release__project__normalized_name="api-made").exists()


def test_it_refuses_uploads_by_read_keys_sessions_and_foreign_keys(world: World) -> None:
    package = Package("api-made", "2.0")
    data, name = wheel_bytes(package), wheel_filename(package)
    assert _upload(as_actor(world, "key_read"), data, name).status_code == 403
    assert _upload(as_actor(world, "key_personal_demoted"), data, name).status_code == 403
    session = _upload(as_actor(world, "member"), data, name)
    assert session.status_code == 403
    assert "API key" in error(session)["message"]
    assert _upload(as_actor(world, "key_b"), data, name).status_code == 404
    assert _upload(as_actor(world, "key_limited"), data, name).status_code == 404
    assert not File.objects.filter(filename=name).exists()


def test_it_refuses_an_oversized_upload_with_413(world: World) -> None:
    Repository.objects.filter(pk=world.repo_a.pk).update(max_file_size=100)
    package = Package("api-made", "2.0")
    response = _upload(as_actor(world, "key_upload"), wheel_bytes(package), wheel_filename(package))
    assert response.status_code == 413
    assert error(response)["code"] == "upload_refused"


def test_it_shows_a_rejected_files_reason(world: World) -> None:
    File.objects.filter(pk=world.file.pk).update(
        status=FileStatus.REJECTED, rejection_reason="METADATA is not valid."
    )
    body = as_actor(world, "reader").get(f"orgs/acme/repos/main/files/{world.file.filename}")
    assert body.json()["status"] == "rejected"
    assert body.json()["rejection_reason"] == "METADATA is not valid."


def test_it_names_a_missing_file_and_its_repository(world: World) -> None:
    response = as_actor(world, "key_read").get("orgs/acme/repos/main/files/nope-1.0.tar.gz")
    assert response.status_code == 404
    assert error(response)["message"] == "File 'nope-1.0.tar.gz' not found in 'acme/main'."


def test_it_filters_files_by_status_project_and_version(world: World) -> None:
    _ready_file(world.repo_a, "other-lib")
    api = as_actor(world, "key_read")

    def listed(**params: str) -> list[str]:
        return [
            f["filename"] for f in api.get("orgs/acme/repos/main/files/", params).json()["results"]
        ]

    assert listed(status="ready", project="ACME_Lib") == [world.file.filename]
    assert listed(project="acme-lib", version="1.0.0") == [world.file.filename]
    assert listed(status="pending") == []
    assert listed(project="acme-lib", version="2.0") == []


def test_it_names_what_it_did_not_find(world: World) -> None:
    api = as_actor(world, "key_read")
    for path, message in (
        ("orgs/acme/repos/nope/projects/", "Repository 'acme/nope' not found."),
        ("orgs/acme/repos/main/projects/nope/", "Project 'nope' not found in 'acme/main'."),
        (
            "orgs/acme/repos/main/projects/acme-lib/releases/9.9/",
            "Release 'acme-lib 9.9' not found.",
        ),
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert error(response)["message"] == message
    # A repository outside a key's limits looks exactly like a missing one.
    response = as_actor(world, "key_limited").get("orgs/acme/repos/main/projects/")
    assert error(response)["message"] == "Repository 'acme/main' not found."


def test_it_lists_files_newest_upload_first(world: World) -> None:
    older = _ready_file(world.repo_a, "older-lib")  # created after world.file, uploaded before
    File.objects.filter(pk=older.pk).update(uploaded_at=world.file.uploaded_at - timedelta(days=1))
    tied = _ready_file(world.repo_a, "tied-lib")  # uploaded at the same instant: newest row first
    File.objects.filter(pk=tied.pk).update(uploaded_at=world.file.uploaded_at)
    files = as_actor(world, "key_read").get("orgs/acme/repos/main/files/").json()["results"]
    assert [f["filename"] for f in files] == [tied.filename, world.file.filename, older.filename]


def test_it_lists_releases_newest_first(world: World) -> None:
    first = world.file.release
    tied = Release.objects.create(project=first.project, version="0.9", canonical_version="0.9")
    Release.objects.filter(pk=tied.pk).update(created_at=first.created_at)
    newest = Release.objects.create(project=first.project, version="2.0", canonical_version="2")
    oldest = Release.objects.create(project=first.project, version="0.8", canonical_version="0.8")
    Release.objects.filter(pk=oldest.pk).update(created_at=first.created_at - timedelta(days=1))
    api = as_actor(world, "key_read")
    releases = api.get("orgs/acme/repos/main/projects/acme-lib/releases/").json()["results"]
    # Newest first; of two created at the same instant, the later row first.
    assert [r["version"] for r in releases] == [newest.version, "0.9", "1.0", "0.8"]


def test_it_finds_a_project_only_in_the_repository_asked_about(world: World) -> None:
    api = as_actor(world, "key_read")
    assert api.get("orgs/acme/repos/main/projects/acme-lib/").status_code == 200
    assert api.get("orgs/acme/repos/other/projects/acme-lib/").status_code == 404
    # Globex has a project of this name; Acme's repository does not.
    assert api.get(f"orgs/acme/repos/main/projects/{world.sentinel_b}/").status_code == 404
