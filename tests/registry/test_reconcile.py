"""Storage reconciled with the database (issue 14, items 2 and 3): an object no row names (an
upload whose commit failed after its bytes were stored, a deletion whose task was lost) is
deleted once older than the grace period, an unfinished S3 multipart upload is aborted, and
nothing a row names, nothing young and nothing outside `repositories/` is ever touched. On
the session's S3 server and on a local folder."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import File
from registry.proxy import proxy_storage_key
from registry.reconcile import Reconciliation
from registry.reconcile import storage_reconcile
from registry.services import file_delete
from registry.storage import distribution_storage_key
from registry.tasks import reconcile_storage_task
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.conftest import S3Bucket
from tests.fixtures.hostile import Upload
from tests.invariants import InProcessRegistry
from tests.invariants import assert_invariants
from tests.world import Tenant
from tests.world import publish

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


class Folder:
    """The packages folder, as the test sees it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes = b"bytes") -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def listing(self) -> set[str]:
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}

    def age(self, key: str, seconds: int) -> None:
        """Make an object `seconds` old, as if written then."""
        then = time.time() - seconds
        os.utime(self.root / key, (then, then))


class Bucket:
    """The packages bucket, as the test sees it."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.client, self.name = bucket.client, bucket.name

    def put(self, key: str, data: bytes = b"bytes") -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def listing(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def uploads(self) -> list[dict[str, Any]]:
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


@pytest.fixture(params=["local", "s3"])
def stored(request: pytest.FixtureRequest, tenant: Tenant) -> Folder | Bucket:
    if request.param == "s3":
        return Bucket(request.getfixturevalue("s3_packages"))
    return Folder(request.getfixturevalue("packages_dir"))


@pytest.fixture
def bucket(tenant: Tenant, s3_packages: S3Bucket) -> Bucket:
    return Bucket(s3_packages)


def _lost_key(tenant: Tenant, name: str) -> str:
    """Where an upload of `name` 1.0 would have stored its wheel."""
    return distribution_storage_key(
        repository_id=tenant.repository.pk,
        blake2_256=name.encode().hex().ljust(64, "0")[:64],
        filename=f"{name}-1.0-py3-none-any.whl",
    )


def _cached_file(tenant: Tenant, stored: Folder | Bucket) -> CachedFile:
    """A file a proxy fetched and stored, with its metadata beside it."""
    project = CachedProject.objects.create(
        repository=tenant.repository, normalized_name="upstream", name="upstream"
    )
    filename = "upstream-1.0-py3-none-any.whl"
    cached = CachedFile.objects.create(
        project=project,
        repository=tenant.repository,
        filename=filename,
        sha256="c" * 64,
        storage_key=proxy_storage_key(
            repository_id=tenant.repository.pk, sha256="c" * 64, filename=filename
        ),
        size=5,
    )
    stored.put(cached.storage_key)
    stored.put(cached.metadata_storage_key)
    return cached


def test_it_deletes_what_no_row_names_and_keeps_everything_a_row_names(
    tenant: Tenant, stored: Folder | Bucket
) -> None:
    kept = publish(tenant.repository, Package("kept", "1.0"))
    cached = _cached_file(tenant, stored)
    # A file deleted whose deletion task never ran: only its filename is kept (a tombstone).
    gone = publish(tenant.repository, Package("gone", "1.0"))
    file_delete(file=gone, actor=tenant.owner)
    # Bytes stored by an upload whose row never committed.
    lost = _lost_key(tenant, "lost")
    stored.put(lost)
    stored.put(f"{lost}.metadata")
    # Not the registry's: outside repositories/.
    stored.put("elsewhere/notes.txt")
    named = {kept.storage_key, kept.metadata_storage_key}
    named |= {cached.storage_key, cached.metadata_storage_key}
    assert stored.listing() == named | {
        gone.storage_key, gone.metadata_storage_key, lost, f"{lost}.metadata",
        "elsewhere/notes.txt",
    }  # fmt: skip

    result = storage_reconcile(grace_seconds=0)

    assert stored.listing() == named | {"elsewhere/notes.txt"}
    assert result == Reconciliation(listed=8, deleted=4, aborted=0)
    # Idempotent: a second run finds nothing more.
    assert storage_reconcile(grace_seconds=0) == Reconciliation(listed=4, deleted=0, aborted=0)


def test_it_keeps_an_object_a_row_names_under_a_key_of_another_shape(
    tenant: Tenant, stored: Folder | Bucket
) -> None:
    # Rows are looked up by the repository and filename a key ends with; a key of any other
    # shape must still be found by the key itself.
    cached = _cached_file(tenant, stored)
    odd = f"repositories/{tenant.repository.pk}/proxy/by-hand/{cached.sha256}"
    CachedFile.objects.filter(pk=cached.pk).update(storage_key=odd)
    for key in (cached.storage_key, cached.metadata_storage_key):
        stored.delete(key)
    stored.put(odd)
    stored.put(f"{odd}.metadata")

    assert storage_reconcile(grace_seconds=0).deleted == 0
    assert stored.listing() == {odd, f"{odd}.metadata"}


def test_it_keeps_unnamed_objects_younger_than_the_grace(
    tenant: Tenant, stored: Folder | Bucket, settings: Any
) -> None:
    lost = _lost_key(tenant, "lost")
    stored.put(lost)

    # The default grace is a day: this object may belong to an upload still in flight.
    assert settings.STORAGE_ORPHAN_GRACE_SECONDS == DAY
    assert storage_reconcile().deleted == 0
    assert storage_reconcile(grace_seconds=3600).deleted == 0
    assert lost in stored.listing()

    if isinstance(stored, Folder):
        stored.age(lost, DAY + 60)
        assert storage_reconcile().deleted == 1
    else:  # S3 has no way to age an object: a zero grace stands for a day gone by.
        assert storage_reconcile(grace_seconds=0).deleted == 1
    assert lost not in stored.listing()


def test_it_deletes_a_write_cut_off_in_a_local_folder_once_old(
    tenant: Tenant, packages_dir: Path
) -> None:
    # The folder storage writes beside the target and renames: a process killed mid-write
    # leaves the partial file.
    folder = Folder(packages_dir)
    partial = f"{_lost_key(tenant, 'cut').rsplit('/', 1)[0]}/.partial-x1y2z3"
    folder.put(partial)

    assert storage_reconcile().deleted == 0  # maybe a write still going on
    folder.age(partial, DAY + 60)
    assert storage_reconcile().deleted == 1
    assert folder.listing() == set()


@pytest.fixture
def database_fails_on_file_insert() -> None:
    """The database fails as the upload commits its row, with an error that is not an
    integrity error (as a dropped connection or a server shutting down does). Created in
    the test's transaction, so it is gone when the test ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION wheelhouse_test_fail() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'terminating connection' USING ERRCODE = 'admin_shutdown'; "
            "END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER wheelhouse_test_fail BEFORE INSERT ON registry_file "
            "FOR EACH ROW EXECUTE FUNCTION wheelhouse_test_fail()"
        )


@pytest.mark.usefixtures("database_fails_on_file_insert")
def test_an_upload_whose_commit_failed_leaves_an_object_the_reconciliation_removes(
    tenant: Tenant, stored: Folder | Bucket
) -> None:
    package = Package("orphaned", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name="orphaned", version="1.0")

    response = tenant.post(upload)

    assert response.status_code == 503
    assert not File.objects.exists()
    left = stored.listing()
    assert len(left) == 2  # the wheel and its metadata, which no row names

    assert storage_reconcile(grace_seconds=0).deleted == 2
    assert stored.listing() == set()
    assert_invariants(InProcessRegistry(tenant.repository, tenant.token), [])


def test_an_upload_renews_an_object_an_earlier_attempt_left_behind(
    tenant: Tenant, packages_dir: Path
) -> None:
    """A retry stores the same bytes under the same key. Had it kept the old object as it
    was, the reconciliation could delete it between this upload's write and its commit."""
    folder = Folder(packages_dir)
    package = Package("retried", "1.0")
    published_key = publish(tenant.repository, package).storage_key
    File.objects.all().delete()  # as if that upload's commit had failed
    folder.age(published_key, 2 * DAY)
    folder.age(f"{published_key}.metadata", 2 * DAY)

    upload = Upload(wheel_filename(package), wheel_bytes(package), name="retried", version="1.0")
    assert tenant.post(upload).status_code == 200

    for key in (published_key, f"{published_key}.metadata"):
        assert time.time() - (packages_dir / key).stat().st_mtime < 60


def test_it_aborts_multipart_uploads_older_than_the_grace(tenant: Tenant, bucket: Bucket) -> None:
    # An upload over 8 MB cut off after its first part (S3 went away, or the web worker was
    # killed): the part is kept, and billed, until the upload is aborted.
    key = _lost_key(tenant, "cut")
    begun = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key)
    bucket.client.upload_part(
        Bucket=bucket.name,
        Key=key,
        UploadId=begun["UploadId"],
        PartNumber=1,
        Body=os.urandom(5 * 1024 * 1024),
    )
    assert [u["UploadId"] for u in bucket.uploads()] == [begun["UploadId"]]

    assert storage_reconcile().aborted == 0  # it may still be sending its parts
    assert len(bucket.uploads()) == 1

    assert storage_reconcile(grace_seconds=0) == Reconciliation(listed=0, deleted=0, aborted=1)
    assert bucket.uploads() == []
    assert bucket.listing() == set()


def test_a_scheduled_task_runs_it_every_hour(
    tenant: Tenant, stored: Folder | Bucket, settings: Any
) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-storage"]
    assert entry["task"] == reconcile_storage_task.name
    assert entry["schedule"] == 3600
    settings.STORAGE_ORPHAN_GRACE_SECONDS = 0
    stored.put(_lost_key(tenant, "lost"))

    counts = reconcile_storage_task.apply().get()

    assert counts == {"listed": 1, "deleted": 1, "aborted": 0}
    assert stored.listing() == set()


@pytest.mark.parametrize("files", [1, 4])
def test_a_page_of_named_objects_costs_two_queries_whatever_its_size(
    tenant: Tenant, packages_dir: Path, files: int, django_assert_num_queries: Any
) -> None:
    for number in range(files):
        publish(tenant.repository, Package(f"named{number}", "1.0"), process=False)

    # One for File, one for CachedFile, through their (repository, filename) index.
    with django_assert_num_queries(2):
        result = storage_reconcile(grace_seconds=0)

    assert result == Reconciliation(listed=2 * files, deleted=0, aborted=0)


def test_the_command_checks_with_a_dry_run_and_then_removes(tenant: Tenant, bucket: Bucket) -> None:
    lost = _lost_key(tenant, "lost")
    bucket.put(lost)
    begun = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=_lost_key(tenant, "cut"))

    def command(*args: str) -> dict[str, int]:
        out = io.StringIO()
        call_command("reconcile_storage", "--grace", "0", *args, stdout=out)
        return json.loads(out.getvalue())

    assert command("--dry-run") == {"listed": 1, "deleted": 1, "aborted": 1}
    assert bucket.listing() == {lost}
    assert [u["UploadId"] for u in bucket.uploads()] == [begun["UploadId"]]

    assert command() == {"listed": 1, "deleted": 1, "aborted": 1}
    assert bucket.listing() == set()
    assert bucket.uploads() == []
