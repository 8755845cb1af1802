"""Yank, unyank and delete, per repository policy; a deleted filename is retired for good."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from accounts.models import AuditEvent
from registry.models import DeletedFilename
from registry.models import File
from registry.models import FileStatus
from registry.models import Release
from registry.services import DeletionNotAllowed
from registry.services import file_delete
from registry.services import release_delete
from registry.services import release_unyank
from registry.services import release_yank
from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from tests.world import stored_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(tenant: Tenant) -> Release:
    for upload in (
        Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)),
        Upload(sdist_filename(PACKAGE), sdist_bytes(PACKAGE)),
    ):
        assert tenant.post(upload).status_code == 200
    assert set(File.objects.values_list("status", flat=True)) == {FileStatus.READY}
    return Release.objects.get()


def test_it_yanks_a_release_with_a_reason_and_unyanks_it(
    tenant: Tenant, published: Release
) -> None:
    release_yank(release=published, actor=tenant.owner, reason="  Broken on Windows  ")
    published.refresh_from_db()
    assert (published.yanked, published.yanked_reason) == (True, "Broken on Windows")

    release_unyank(release=published, actor=tenant.owner)
    published.refresh_from_db()
    assert (published.yanked, published.yanked_reason) == (False, "")


def test_it_deletes_a_file_with_its_stored_objects(
    tenant: Tenant, published: Release, packages_dir: Path
) -> None:
    wheel = File.objects.get(packagetype="bdist_wheel")
    # Each distribution with its core metadata beside it.
    assert len(stored_files(packages_dir)) == 4

    file_delete(file=wheel, actor=tenant.owner)

    assert list(File.objects.values_list("filename", flat=True)) == [sdist_filename(PACKAGE)]
    sdist = sdist_filename(PACKAGE)
    assert sorted(p.name for p in stored_files(packages_dir)) == [sdist, f"{sdist}.metadata"]
    again = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)))
    assert again.status_code == 400
    assert again.reason_phrase.startswith("This filename was previously used")


def test_it_deletes_a_release_and_retires_all_its_filenames(
    tenant: Tenant, published: Release, packages_dir: Path
) -> None:
    release_delete(release=published, actor=tenant.owner)

    assert not Release.objects.exists()
    assert not File.objects.exists()
    assert stored_files(packages_dir) == []
    # Each tombstone keeps the sha256 of the bytes the name last held (the admin shows it).
    assert dict(DeletedFilename.objects.values_list("filename", "sha256")) == {
        wheel_filename(PACKAGE): hashlib.sha256(wheel_bytes(PACKAGE)).hexdigest(),
        sdist_filename(PACKAGE): hashlib.sha256(sdist_bytes(PACKAGE)).hexdigest(),
    }


def test_it_keeps_files_when_the_repository_forbids_deletion(
    tenant: Tenant, published: Release, packages_dir: Path
) -> None:
    tenant.repository.allow_file_deletion = False
    tenant.repository.save()
    published.project.repository.refresh_from_db()

    with pytest.raises(DeletionNotAllowed, match="yank the release instead"):
        file_delete(file=File.objects.select_related("repository").first(), actor=tenant.owner)
    with pytest.raises(DeletionNotAllowed):
        release_delete(
            release=Release.objects.select_related("project__repository").get(),
            actor=tenant.owner,
        )

    assert File.objects.count() == 2
    assert len(stored_files(packages_dir)) == 4
    assert not DeletedFilename.objects.exists()


def test_it_records_uploads_yanks_and_deletions_in_the_audit_log(
    tenant: Tenant, published: Release
) -> None:
    wheel = File.objects.get(packagetype="bdist_wheel")
    release_yank(release=published, actor=tenant.owner, reason="CVE", source_ip="192.0.2.7")
    file_delete(file=wheel, actor=tenant.owner)

    events = AuditEvent.objects.filter(organization=published.project.repository.organization)
    actions = list(events.order_by("pk").values_list("action", flat=True))
    assert actions[-4:] == ["file.upload", "file.upload", "release.yank", "file.delete"]
    upload = events.filter(action="file.upload").first()
    assert upload.actor_api_key is not None
    assert upload.details["sha256"] in {f.sha256 for f in File.objects.all()} | {wheel.sha256}
    yank = events.get(action="release.yank")
    assert (yank.details, yank.source_ip) == ({"reason": "CVE"}, "192.0.2.7")
    assert yank.target == f"release acme/main/{published.project.name} {published.version}"
