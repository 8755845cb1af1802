"""The upload endpoint in-process: every hostile upload gets its reason and leaves nothing."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import AuditEvent
from registry.models import DeletedFilename
from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.services import project_status_set
from registry.services import repository_get_or_create
from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import CORPUS
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from tests.world import stored_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("case", list(CORPUS))
def test_it_refuses_each_hostile_upload_with_its_reason_and_keeps_nothing(
    tenant: Tenant, packages_dir: Path, case: str
) -> None:
    build, status, reason = CORPUS[case]

    response = tenant.post(build())

    assert response.status_code == status, response.content
    assert reason in response.reason_phrase
    assert reason in response.content.decode()
    assert File.objects.count() == 0
    assert stored_files(packages_dir) == []


def test_it_refuses_an_oversized_file_while_it_streams(tenant: Tenant, packages_dir: Path) -> None:
    tenant.repository.max_file_size = 1024
    tenant.repository.save()

    response = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE) + bytes(4096)))

    assert response.status_code == 413
    assert response.reason_phrase == "File too large. Limit for repository 'acme/main' is 1 KB."
    assert File.objects.count() == 0
    assert stored_files(packages_dir) == []


def test_it_answers_in_json_when_the_client_asks_for_it(tenant: Tenant) -> None:
    wrong = CORPUS["wrong digest"][0]()

    response = tenant.post(wrong, accept="application/json")

    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["message"].startswith("The digest supplied does not match")
    assert body["code"] == f"400 {body['message']}"
    assert body["title"] == "Bad Request"


def test_it_accepts_the_form_as_every_client_sends_it(tenant: Tenant, packages_dir: Path) -> None:
    """flit sends no pyversion for sdists and no part Content-Type; uv sends "" for unset
    fields and plural names; twine may send attestations; nobody needs a trailing slash."""
    sdist = Upload(
        "demo_pkg-1.0.tar.gz",
        sdist_bytes(PACKAGE),
        overrides={
            "pyversion": "", "requires_python": "", "author": "UNKNOWN", "import_names": "x",
            "provides_extras": "y", "attestations": "[{\"not\": \"verified\"}]",
            "md5_digest": "",
        },
    )  # fmt: skip
    response = tenant.post(sdist, url=tenant.upload_url.rstrip("/"))
    assert response.status_code == 200, response.content
    file = File.objects.get()
    assert file.python_version == "source"
    # The sdist, and its core metadata stored beside it for the worker.
    assert sorted(p.name for p in stored_files(packages_dir)) == [
        file.filename,
        f"{file.filename}.metadata",
    ]


def test_it_takes_an_identical_reupload_as_success_and_a_different_one_as_conflict(
    tenant: Tenant,
) -> None:
    wheel = Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE))
    assert tenant.post(wheel).status_code == 200
    assert tenant.post(wheel).status_code == 200
    changed = Upload(wheel.filename, wheel_bytes(Package("Demo.Pkg", "1.0", summary="changed")))

    response = tenant.post(changed)

    assert response.status_code == 409
    assert response.reason_phrase.startswith("File already exists ('demo_pkg-1.0-py3-none-any.whl'")
    assert File.objects.count() == 1


def test_a_different_reupload_is_a_conflict_even_when_its_bytes_are_no_archive(
    tenant: Tenant, packages_dir: Path
) -> None:
    """The name is taken: that is the answer, before anything about the new bytes."""
    wheel = Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE))
    assert tenant.post(wheel).status_code == 200
    stored = sorted(stored_files(packages_dir))

    response = tenant.post(Upload(wheel.filename, b"not a zip archive at all"))

    assert response.status_code == 409
    assert response.reason_phrase.startswith("File already exists")
    assert sorted(stored_files(packages_dir)) == stored


def test_a_release_takes_an_sdist_and_wheels_beside_it(tenant: Tenant) -> None:
    assert tenant.post(Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE))).status_code == 200
    assert tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE))).status_code == 200
    assert File.objects.count() == 2


def test_a_deleted_filename_blocks_only_that_name_in_that_repository(
    tenant: Tenant, packages_dir: Path
) -> None:
    other = repository_get_or_create(organization=tenant.repository.organization, slug="other")
    DeletedFilename.objects.create(
        repository=other, filename=wheel_filename(PACKAGE), sha256="0" * 64
    )
    DeletedFilename.objects.create(
        repository=tenant.repository, filename="demo_pkg-0.9-py3-none-any.whl", sha256="0" * 64
    )

    response = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)))

    assert response.status_code == 200
    assert File.objects.get().repository == tenant.repository


def test_it_allows_one_sdist_per_release(tenant: Tenant, packages_dir: Path) -> None:
    assert tenant.post(Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE))).status_code == 200
    other_spelling = Package("Demo.Pkg", "1.0.0")

    response = tenant.post(
        Upload("demo_pkg-1.0.0.tar.gz", sdist_bytes(other_spelling), version="1.0.0")
    )

    assert response.status_code == 400
    assert response.reason_phrase == "Only one sdist may be uploaded per release."
    assert File.objects.count() == 1
    assert sorted(p.name for p in stored_files(packages_dir)) == [
        "demo_pkg-1.0.tar.gz",
        "demo_pkg-1.0.tar.gz.metadata",
    ]


def test_one_sdist_per_release_counts_only_that_release_in_that_repository(
    tenant: Tenant,
) -> None:
    """Another version of the project takes its own sdist, and so does the same release in
    another repository (or another organization's)."""
    repository_get_or_create(organization=tenant.repository.organization, slug="other")
    assert tenant.post(Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE))).status_code == 200

    newer = Upload("demo_pkg-2.0.tar.gz", sdist_bytes(Package("Demo.Pkg", "2.0")), version="2.0")
    same_release = Package("Demo.Pkg", "1.0", summary="other bytes")
    elsewhere = Upload("Demo.Pkg-1.0.tar.gz", sdist_bytes(same_release))

    assert tenant.post(newer).status_code == 200
    assert tenant.post(elsewhere, url="/acme/other/legacy/").status_code == 200
    assert File.objects.count() == 3


def test_an_archived_project_refuses_a_new_file_saying_why_and_keeps_nothing(
    tenant: Tenant, packages_dir: Path
) -> None:
    assert tenant.post(Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE))).status_code == 200
    project = Project.objects.get()
    project_status_set(project=project, actor=tenant.owner, status="archived", reason="use x")

    response = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)))

    assert response.status_code == 400
    assert response.reason_phrase == (
        "Project 'Demo.Pkg' is archived and accepts no uploads: use x"
    )
    assert File.objects.count() == 1
    assert len(stored_files(packages_dir)) == 2


def test_it_never_takes_a_deleted_filename_again(tenant: Tenant, packages_dir: Path) -> None:
    DeletedFilename.objects.create(
        repository=tenant.repository, filename=wheel_filename(PACKAGE), sha256="0" * 64
    )

    response = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)))

    assert response.status_code == 400
    assert response.reason_phrase.startswith("This filename was previously used by a file")
    assert not Project.objects.exists()
    assert stored_files(packages_dir) == []


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"])
def test_it_reads_every_metadata_version(tenant: Tenant, packages_dir: Path, version: str) -> None:
    metadata = (
        f"Metadata-Version: {version}\nName: Demo.Pkg\nVersion: 1.0\nSummary: s\n\nbody\n"
    ).encode()
    upload = _wheel_with_metadata(metadata)

    response = tenant.post(upload)

    assert response.status_code == 200, response.content
    # Processing ran on commit (eagerly, in-process): the file is listed, its metadata read.
    file = File.objects.select_related("release").get()
    assert (file.status, file.rejection_reason) == (FileStatus.READY, "")
    assert file.release.summary == "s"
    assert file.release.metadata["metadata_version"] == version
    assert file.release.metadata["description"] == "body\n"
    served = packages_dir.rglob(f"{upload.filename}.metadata")
    assert [p.read_bytes() for p in served] == [metadata]


def _wheel_with_metadata(metadata: bytes) -> Upload:
    source = zipfile.ZipFile(io.BytesIO(wheel_bytes(PACKAGE)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            data = metadata if name.endswith("/METADATA") else source.read(name)
            archive.writestr(name, data)
    return Upload(wheel_filename(PACKAGE), buffer.getvalue())


def test_it_answers_the_trusted_publishing_probe_and_no_other_oidc_url(client) -> None:
    """uv and pdm ask the audience before anything else; PyPI's per-issuer URLs are not ours."""
    assert client.get("/_/oidc/audience").json() == {"audience": settings.OIDC_AUDIENCE}
    response = client.post("/_/oidc/github/mint-token")
    assert response.status_code == 404
    assert "use /_/oidc/audience and /_/oidc/mint-token" in response.reason_phrase


def test_it_accepts_license_files_that_ship_in_the_wheel(tenant: Tenant) -> None:
    upload = _wheel_with_metadata(
        b"Metadata-Version: 2.4\nName: Demo.Pkg\nVersion: 1.0\nLicense-Expression: MIT\n"
        b"License-File: LICENSE.txt\n"
    )
    buffer = io.BytesIO(upload.data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("demo_pkg-1.0.dist-info/licenses/LICENSE.txt", "MIT License\n")

    response = tenant.post(Upload(upload.filename, buffer.getvalue()))

    assert response.status_code == 200, response.content
    file = File.objects.select_related("release").get()
    assert (file.status, file.rejection_reason) == (FileStatus.READY, "")
    assert file.release.metadata["license_expression"] == "MIT"
    assert file.release.metadata["license_files"] == ["LICENSE.txt"]


def test_one_filename_lives_in_each_repository_apart_and_remembers_its_key(
    tenant: Tenant,
) -> None:
    """A filename is unique in its repository, not in the organization."""
    other = repository_get_or_create(organization=tenant.repository.organization, slug="other")
    wheel = Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE))
    assert tenant.post(wheel).status_code == 200
    changed = Upload(wheel.filename, wheel_bytes(Package("Demo.Pkg", "1.0", summary="other")))
    assert tenant.post(changed, url="/acme/other/legacy/").status_code == 200
    files = {f.repository.slug: f for f in File.objects.select_related("repository", "uploaded_by")}
    assert set(files) == {"main", "other"}
    assert files["main"].sha256 != files["other"].sha256
    assert files["main"].uploaded_by.public_id == tenant.token.split("_")[1]
    assert other.pk == files["other"].repository_id


def test_an_upload_is_audited_with_the_key_the_address_the_file_and_its_size(
    tenant: Tenant,
) -> None:
    response = tenant.post(Upload(wheel_filename(PACKAGE), wheel_bytes(PACKAGE)),
                           REMOTE_ADDR="192.0.2.44")  # fmt: skip

    assert response.status_code == 200, response.content
    file = File.objects.get()
    event = AuditEvent.objects.get(action="file.upload")
    assert (event.organization, event.actor_api_key, event.source_ip) == (
        tenant.repository.organization, file.uploaded_by, "192.0.2.44"
    )  # fmt: skip
    assert event.target == f"file acme/main/{file.filename}"
    assert event.details == {"sha256": file.sha256, "size": file.size}
    assert file.size == len(wheel_bytes(PACKAGE))
