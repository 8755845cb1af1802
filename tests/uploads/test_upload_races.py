"""Two uploads of one filename at once: the one that commits second learns the outcome from
the row that won, and leaves nothing of its own behind.

Deterministic, without sleeps: the first upload runs inside a transaction the test holds
open, so its rows are written but not committed; the second upload (another thread, another
database connection) passes every check, stores its bytes and then waits on the unique index
for the first to commit. The test commits only once it sees that wait in pg_locks."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.db import connections
from django.db import transaction

from accounts.models import ApiKey
from accounts.services import api_key_create
from registry.models import File
from registry.models import Repository
from registry.quotas import quota_set
from registry.services import repository_get_or_create
from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.services import wait_for
from tests.world import Tenant
from tests.world import stored_files
from uploads.errors import FileExists
from uploads.errors import QuotaExceeded
from uploads.errors import UploadError
from uploads.services import ONE_SDIST
from uploads.services import UploadResult
from uploads.services import upload_receive
from uploads.validation import parse_upload_form

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(repository: Repository, key: ApiKey, filename: str, data: bytes) -> UploadResult:
    sdist = not filename.endswith(".whl")
    name, version = ("race", "1.0")
    form = parse_upload_form({
        ":action": "file_upload", "name": name, "version": version,
        "filetype": "sdist" if sdist else "bdist_wheel", "pyversion": "source" if sdist else "py3",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    })  # fmt: skip
    digests = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "blake2_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
    }
    return upload_receive(
        repository=repository,
        api_key=key,
        form=form,
        content=ContentFile(data, name=filename),
        digests=digests,
    )


def _blocked_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        # Statistics views are snapshotted once per transaction; the test polls from inside one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


def _race(
    tenant: Tenant, first: tuple[str, bytes], second: tuple[str, bytes]
) -> tuple[UploadResult, Any]:
    """Upload `first` in a transaction held open until `second`, uploading meanwhile in
    another thread, waits for it; the first's result and the second's result or error."""
    key = api_key_create(organization=tenant.repository.organization, name="up", scope="upload")
    outcome: dict[str, Any] = {}

    def upload_second() -> None:
        try:
            outcome["result"] = _upload(tenant.repository, key.api_key, *second)
        except Exception as exc:
            outcome["result"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        won = _upload(tenant.repository, key.api_key, *first)
        racer = threading.Thread(target=upload_second)
        racer.start()
        wait_for(
            lambda: _blocked_on_a_lock() or not racer.is_alive(),
            timeout=20,
            what="the second upload to wait on the first",
        )
        assert racer.is_alive(), f"the second upload did not wait: {outcome['result']!r}"
    racer.join(timeout=20)
    return won, outcome["result"]


def _wheel(version_tag: str = "") -> tuple[str, bytes]:
    package = Package("race", "1.0", summary=f"build {version_tag}")
    return wheel_filename(package), wheel_bytes(package)


def test_the_same_bytes_uploaded_twice_at_once_are_one_file_and_a_success(
    tenant: Tenant, packages_dir: Path
) -> None:
    won, lost = _race(tenant, _wheel(), _wheel())
    assert isinstance(lost, UploadResult)
    assert lost.duplicate
    assert lost.file.pk == won.file.pk
    assert File.objects.count() == 1
    # Both wrote the same content-addressed object; it stays, it is the winner's.
    stored = {p.name for p in stored_files(packages_dir)}
    assert stored == {won.file.filename, f"{won.file.filename}.metadata"}


def test_other_bytes_under_the_same_name_at_once_are_refused_and_leave_nothing(
    tenant: Tenant, packages_dir: Path
) -> None:
    won, lost = _race(tenant, _wheel("one"), _wheel("two"))
    assert isinstance(lost, FileExists)
    assert "File already exists" in str(lost)
    assert File.objects.get().sha256 == won.file.sha256
    # The loser's object (another content address) was deleted, with its metadata.
    assert len(stored_files(packages_dir)) == 2
    assert (packages_dir / won.file.storage_key).is_file()


def test_a_second_sdist_of_a_release_at_once_is_refused_and_leaves_nothing(
    tenant: Tenant, packages_dir: Path
) -> None:
    package = Package("race", "1.0")
    first = (sdist_filename(package), sdist_bytes(package))
    # The same release under the spelling setuptools used before PEP 625, other bytes.
    legacy = Package("Race", "1.0", summary="the legacy spelling")
    second = ("Race-1.0.tar.gz", sdist_bytes(legacy))
    won, lost = _race(tenant, first, second)
    assert isinstance(lost, UploadError)
    assert str(lost) == ONE_SDIST
    assert [f.filename for f in File.objects.all()] == [won.file.filename]
    assert len(stored_files(packages_dir)) == 2


def test_a_lost_race_looks_for_the_winner_only_in_its_own_repository(
    tenant: Tenant, packages_dir: Path
) -> None:
    """The second sdist of a release, raced, is refused as such even when another repository
    holds a file of its very name and bytes: that file is not this repository's."""
    package = Package("race", "1.0")
    legacy = Package("Race", "1.0", summary="the legacy spelling")
    second = ("Race-1.0.tar.gz", sdist_bytes(legacy))
    other = repository_get_or_create(organization=tenant.repository.organization, slug="other")
    key = api_key_create(organization=tenant.repository.organization, name="o", scope="upload")
    _upload(other, key.api_key, *second)

    won, lost = _race(tenant, (sdist_filename(package), sdist_bytes(package)), second)

    assert isinstance(lost, UploadError), lost
    assert str(lost) == ONE_SDIST
    assert [f.filename for f in File.objects.filter(repository=tenant.repository)] == [
        won.file.filename
    ]


def test_an_sdist_whose_twin_commits_while_it_is_checked_is_a_duplicate_not_a_second_sdist(
    tenant: Tenant, packages_dir: Path
) -> None:
    """The one-sdist check never counts the file's own name. Here the same sdist commits after
    this upload found no file of its name and before it looks for the release's other sdists
    (the second upload is held at its next query, on deleted filenames): it is the same file,
    a success."""
    key = api_key_create(organization=tenant.repository.organization, name="up", scope="upload")
    package = Package("race", "1.0")
    sdist = (sdist_filename(package), sdist_bytes(package))
    held, released = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def hold_at_deleted_filenames(execute: Any, sql: str, *args: Any) -> Any:
        if "deletedfilename" in sql and not held.is_set():
            held.set()
            released.wait(timeout=20)
        return execute(sql, *args)

    def upload_second() -> None:
        try:
            with connection.execute_wrapper(hold_at_deleted_filenames):
                outcome["result"] = _upload(tenant.repository, key.api_key, *sdist)
        except Exception as exc:
            outcome["result"] = exc
        finally:
            connections.close_all()

    racer = threading.Thread(target=upload_second)
    with transaction.atomic():
        won = _upload(tenant.repository, key.api_key, *sdist)
        racer.start()
        wait_for(held.is_set, timeout=20, what="the second upload to look for deleted filenames")
    released.set()
    racer.join(timeout=20)

    lost = outcome["result"]
    assert isinstance(lost, UploadResult), lost
    assert lost.duplicate
    assert lost.file.pk == won.file.pk


def test_two_uploads_at_once_never_take_the_organization_past_its_quota(
    tenant: Tenant, packages_dir: Path
) -> None:
    """Each fits alone, not both. The second passes the check before storing (the first is
    not committed yet), stores its bytes, then waits on the organization's row that the
    first locked; once the first commits it counts it, and is refused."""
    package = Package("race", "1.0")
    wheel = (wheel_filename(package), wheel_bytes(package))
    sdist = (sdist_filename(package), sdist_bytes(package))
    quota_set(
        organization=tenant.repository.organization, storage=len(wheel[1]) + len(sdist[1]) - 1
    )

    won, lost = _race(tenant, wheel, sdist)

    assert isinstance(lost, QuotaExceeded)
    assert str(lost).startswith("Storage quota exceeded: organization 'acme' may store")
    assert list(File.objects.values_list("filename", flat=True)) == [won.file.filename]
    assert {p.name for p in stored_files(packages_dir)} == {
        won.file.filename, f"{won.file.filename}.metadata",
    }  # fmt: skip


def test_the_same_bytes_twice_at_once_under_a_quota_that_fits_them_once_are_a_success(
    tenant: Tenant, packages_dir: Path
) -> None:
    """The second counts the first once it commits, and finds itself over the quota: but the
    file that filled it is this very file, so the upload is a duplicate, a success, and the
    bytes both wrote to the same address stay."""
    wheel = _wheel()
    quota_set(organization=tenant.repository.organization, storage=len(wheel[1]))

    won, lost = _race(tenant, wheel, wheel)

    assert isinstance(lost, UploadResult), lost
    assert lost.duplicate
    assert lost.file.pk == won.file.pk
    assert {p.name for p in stored_files(packages_dir)} == {
        won.file.filename, f"{won.file.filename}.metadata",
    }  # fmt: skip
