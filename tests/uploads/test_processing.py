"""The worker's service, run in-process on local storage: ready, rejected, idempotent."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from accounts.services import api_key_create
from registry import services as registry_services
from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.models import Repository
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.world import Tenant
from tests.world import key_client
from tests.world import publish
from uploads import processing
from uploads.errors import UploadError
from uploads.processing import file_process
from uploads.services import upload_receive
from uploads.tasks import pending_files_requeue
from uploads.tasks import process_file_task
from uploads.validation import parse_upload_form
from uploads.web import upload_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(tenant: Tenant) -> Repository:
    return tenant.repository


def receive(repository, data: bytes, filename: str, name: str = "Demo.Pkg") -> File:
    key = api_key_create(organization=repository.organization, name="ci", scope="upload")
    digests = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "blake2_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
    }
    form = parse_upload_form({
        ":action": "file_upload", "name": name, "version": "1.0", "filetype": "bdist_wheel",
        "pyversion": "py3", "sha256_digest": digests["sha256"],
    })  # fmt: skip
    content = ContentFile(data, name=filename)
    return upload_receive(
        repository=repository, api_key=key.api_key, form=form, content=content, digests=digests
    ).file


def test_it_makes_a_good_wheel_ready_with_its_metadata_file(repository) -> None:
    package = Package("Demo.Pkg", "1.0", requires_python=">=3.10")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    assert file.status == FileStatus.PENDING

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.READY
    assert file.requires_python == ">=3.10"
    with packages_storage().open(file.metadata_storage_key) as stored:
        stored_metadata = stored.read()
    assert stored_metadata == package.metadata().encode()
    assert file.metadata_sha256 == hashlib.sha256(stored_metadata).hexdigest()
    assert file.release.summary == package.summary


def test_it_refuses_a_wheel_whose_metadata_names_another_project_before_storing_it(
    repository, tmp_path: Path
) -> None:
    impostor = Package("Other", "1.0")
    with pytest.raises(UploadError, match="does not match the filename") as caught:
        receive(repository, wheel_bytes(impostor), wheel_filename(Package("Demo.Pkg", "1.0")))
    assert upload_status(caught.value) == 400
    assert File.objects.count() == 0
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_it_rejects_a_file_whose_stored_bytes_changed_after_upload(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    storage = packages_storage()
    storage.delete(file.storage_key)
    storage.save(file.storage_key, ContentFile(b"tampered"))

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.REJECTED
    assert "does not match its recorded sha256" in file.rejection_reason


def test_it_leaves_a_processed_file_alone_when_the_task_runs_again(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    file_process(file_id=file.pk)
    file.refresh_from_db()
    processed_at = file.processed_at

    file_process(file_id=file.pk)
    file_process(file_id=file.pk + 1000)  # a file that is gone

    file.refresh_from_db()
    assert file.processed_at == processed_at


def test_it_answers_an_identical_reupload_without_a_second_row(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    first = receive(repository, wheel_bytes(package), wheel_filename(package))
    again = receive(repository, wheel_bytes(package), wheel_filename(package))
    assert again.pk == first.pk
    assert File.objects.count() == 1


def test_it_refuses_different_bytes_under_an_existing_filename(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    receive(repository, wheel_bytes(package), wheel_filename(package))
    other = wheel_bytes(Package("Demo.Pkg", "1.0", summary="changed"))
    with pytest.raises(UploadError, match=r"^File already exists") as caught:
        receive(repository, other, wheel_filename(package))
    assert upload_status(caught.value) == 409


def test_it_requeues_only_files_left_pending(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    receive(repository, wheel_bytes(package), wheel_filename(package))
    assert pending_files_requeue(older_than=timedelta(0)) == 1
    File.objects.update(status=FileStatus.READY)
    assert pending_files_requeue(older_than=timedelta(0)) == 0


def test_it_renders_the_readme_into_sanitised_html(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))

    file_process(file_id=file.pk)

    file.release.refresh_from_db()
    html = file.release.description_html
    assert "This is the long description." in html
    assert "<script" not in html


def test_it_keeps_a_file_pending_through_a_storage_fault_and_finishes_it_after(
    repository,
) -> None:
    package = Package("Demo.Pkg", "1.0")
    data = wheel_bytes(package)
    file = receive(repository, data, wheel_filename(package))
    storage = packages_storage()
    storage.delete(file.storage_key)

    result = process_file_task.apply(args=[file.pk])

    assert isinstance(result.result, FileNotFoundError)
    file.refresh_from_db()
    assert (file.status, file.claimed_until) == (FileStatus.PENDING, None)
    storage.save(file.storage_key, ContentFile(data))
    process_file_task.apply(args=[file.pk])
    file.refresh_from_db()
    assert file.status == FileStatus.READY


def test_it_leaves_a_claimed_file_to_its_worker_until_the_claim_expires(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    File.objects.filter(pk=file.pk).update(claimed_until=timezone.now() + timedelta(minutes=5))

    file_process(file_id=file.pk)
    assert pending_files_requeue(older_than=timedelta(0)) == 0
    file.refresh_from_db()
    assert file.status == FileStatus.PENDING

    File.objects.filter(pk=file.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert pending_files_requeue(older_than=timedelta(0)) == 1
    file.refresh_from_db()
    assert file.status == FileStatus.READY


def test_a_fault_after_the_serial_bump_rolls_the_whole_finish_back(repository, monkeypatch) -> None:
    """The page serial moves in the transaction that makes the file ready: a crash between
    the two (here, an error right after the bump, before commit) leaves neither, so the file
    is sent again and never sits ready under the old page."""
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    project = Project.objects.get(pk=file.release.project_id)
    serial = project.serial

    def touch_then_crash(*, project_id: int) -> None:
        registry_services.project_touch(project_id=project_id)
        raise ConnectionError("the worker lost its database before commit")

    monkeypatch.setattr("uploads.processing.project_touch", touch_then_crash)
    with pytest.raises(ConnectionError):
        file_process(file_id=file.pk)

    file.refresh_from_db()
    project.refresh_from_db()
    assert (file.status, file.claimed_until, file.processed_at) == (FileStatus.PENDING, None, None)
    assert file.release.metadata == {}
    assert project.serial == serial

    monkeypatch.undo()
    file_process(file_id=file.pk)
    file.refresh_from_db()
    project.refresh_from_db()
    assert file.status == FileStatus.READY
    assert project.serial == serial + 1


def test_a_rejected_file_leaves_the_pages_as_they_were(repository) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    storage = packages_storage()
    storage.delete(file.storage_key)
    storage.save(file.storage_key, ContentFile(b"tampered"))
    serial = Project.objects.get(pk=file.release.project_id).serial

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.REJECTED
    assert Project.objects.get(pk=file.release.project_id).serial == serial


@pytest.mark.usefixtures("locmem_cache")
def test_a_file_made_ready_is_listed_on_the_very_next_page_request(tenant) -> None:
    client = key_client(tenant.token)
    publish(tenant.repository, Package("demo", "1.0"))
    page = "/acme/main/simple/demo/"
    assert b"demo-1.0-" in client.get(page).content  # the page is now cached
    second = publish(tenant.repository, Package("demo", "2.0"), process=False)
    assert b"demo-2.0-" not in client.get(page).content  # pending: not listed

    file_process(file_id=second.pk)

    assert b"demo-2.0-" in client.get(page).content


def test_a_database_fault_is_retried_by_the_task_not_left_to_the_sweep(
    repository, monkeypatch
) -> None:
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    finish = processing._finish
    faults = [OperationalError("server closed the connection unexpectedly")]

    def finish_after_a_fault(*args, **kwargs) -> None:
        if faults:
            raise faults.pop()
        finish(*args, **kwargs)

    monkeypatch.setattr(processing, "_finish", finish_after_a_fault)
    process_file_task.apply(args=[file.pk])  # eagerly: its retry runs at once

    file.refresh_from_db()
    assert (file.status, faults) == (FileStatus.READY, [])


def test_a_claim_is_short_and_renewed_while_its_worker_reads(
    repository, settings, monkeypatch
) -> None:
    settings.FILE_CLAIM_SECONDS = 30
    package = Package("Demo.Pkg", "1.0")
    file = receive(repository, wheel_bytes(package), wheel_filename(package))
    clock = [1000.0]
    monkeypatch.setattr(processing.time, "monotonic", lambda: clock[0])
    assert processing._claim(file.pk)
    lease = processing._Lease(file.pk)
    claimed = File.objects.get(pk=file.pk).claimed_until
    assert claimed is not None
    assert claimed - timezone.now() <= timedelta(seconds=30)

    clock[0] += 5  # less than a third of the lease: no write
    lease.keep()
    assert File.objects.get(pk=file.pk).claimed_until == claimed

    clock[0] += 6
    lease.keep()
    renewed = File.objects.get(pk=file.pk).claimed_until
    assert renewed is not None
    assert renewed > claimed
