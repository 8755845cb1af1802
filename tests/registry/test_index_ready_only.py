"""Only ready files reach installers: a file still pending, or rejected (by the worker or by an
operator), is on no index page, in no JSON API document and behind no download URL; and a
quarantined project offers no files anywhere."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from registry.models import File
from registry.models import FileStatus
from registry.services import project_status_set
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.world import Tenant
from tests.world import publish
from uploads.processing import file_process

pytestmark = pytest.mark.django_db

URL = "/acme/main/simple/"
JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Files:
    ready: File
    pending: File
    tampered: File  # rejected by the worker: its stored bytes no longer match their hash
    withdrawn: File  # was ready, with its .metadata, until an operator rejected it
    ghost_pending: File  # of a project with no ready file at all
    ghost_tampered: File

    @property
    def hidden(self) -> list[File]:
        return [
            self.pending,
            self.tampered,
            self.withdrawn,
            self.ghost_pending,
            self.ghost_tampered,
        ]


def _tampered(tenant: Tenant, package: Package) -> File:
    file = publish(tenant.repository, package, process=False)
    storage = packages_storage()
    storage.delete(file.storage_key)
    storage.save(file.storage_key, ContentFile(b"not the bytes that were uploaded"))
    file_process(file_id=file.pk)
    file.refresh_from_db()
    return file


@pytest.fixture
def files(tenant: Tenant) -> Files:
    withdrawn = publish(tenant.repository, Package("demo", "1.3"))
    # The admin lets an operator set a file's status; the row keeps its metadata hash.
    File.objects.filter(pk=withdrawn.pk).update(
        status=FileStatus.REJECTED, rejection_reason="withdrawn by an operator"
    )
    made = Files(
        ready=publish(tenant.repository, Package("demo", "1.0", requires_python=">=3.9")),
        pending=publish(tenant.repository, Package("demo", "1.1"), process=False),
        tampered=_tampered(tenant, Package("demo", "1.2")),
        withdrawn=File.objects.get(pk=withdrawn.pk),
        ghost_pending=publish(tenant.repository, Package("ghost", "1.0"), process=False),
        ghost_tampered=_tampered(tenant, Package("ghost", "1.1")),
    )
    statuses = [f.status for f in (made.ready, *made.hidden)]
    assert statuses == ["ready", "pending", "rejected", "rejected", "pending", "rejected"]
    assert made.withdrawn.metadata_sha256  # so its .metadata URL would have something to serve
    return made


@pytest.fixture
def client(tenant: Tenant) -> Client:
    basic = base64.b64encode(f"__token__:{tenant.token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {basic}")


def _anchors(html: str) -> list[str]:
    return re.findall(r"<a [^>]+>([^<]+)</a>", html)


def test_it_lists_only_ready_files_on_every_index_page(client: Client, files: Files) -> None:
    ready = files.ready.filename

    project_json = json.loads(client.get(f"{URL}demo/", HTTP_ACCEPT=JSON).content)
    project_html = client.get(f"{URL}demo/").content.decode()
    hatch_html = client.get("/acme/main/legacy/+simple/demo/").content.decode()
    root_json = json.loads(client.get(URL, HTTP_ACCEPT=JSON).content)
    root_html = client.get(URL).content.decode()

    assert [f["filename"] for f in project_json["files"]] == [ready]
    assert project_json["versions"] == ["1.0"]
    assert _anchors(project_html) == _anchors(hatch_html) == [ready]
    assert root_json["projects"] == [{"name": "demo"}]
    assert _anchors(root_html) == ["demo"]
    for file in files.hidden:
        for page in (project_html, hatch_html, root_html, json.dumps(project_json)):
            assert file.filename not in page
            assert file.sha256 not in page


def test_it_offers_only_ready_files_in_the_json_api(client: Client, files: Files) -> None:
    data = json.loads(client.get("/acme/main/pypi/demo/json").content)

    assert data["info"]["version"] == "1.0"
    assert [u["filename"] for u in data["urls"]] == [files.ready.filename]
    assert {v: [u["filename"] for u in us] for v, us in data["releases"].items()} == {
        "1.0": [files.ready.filename]
    }
    for version in ("1.1", "1.2", "1.3"):
        assert client.get(f"/acme/main/pypi/demo/{version}/json").status_code == 404
    assert client.get("/acme/main/pypi/ghost/json").status_code == 404


def test_it_serves_no_file_that_is_not_ready(client: Client, files: Files) -> None:
    def url(file: File) -> str:
        return f"/acme/main/files/{file.sha256}/{file.filename}"

    ready = client.get(url(files.ready))
    ready_metadata = client.get(f"{url(files.ready)}.metadata")
    assert (ready.status_code, ready_metadata.status_code) == (200, 200)
    for file in files.hidden:
        answers = [
            client.get(url(file)),
            client.head(url(file)),
            client.get(f"{url(file)}.metadata"),
            client.get(url(file), HTTP_RANGE="bytes=0-9"),
        ]
        assert [a.status_code for a in answers] == [404] * 4, file.filename
        assert answers[0].content == b"File not found.\n"
    # Last: closing a streamed response ends the request, and with it the test's connection.
    ready.close()
    ready_metadata.close()


def test_it_offers_no_file_of_a_quarantined_project_in_the_json_api(
    client: Client, tenant: Tenant
) -> None:
    wheel = publish(tenant.repository, Package("demo", "1.0"))
    assert client.get("/acme/main/pypi/demo/json").status_code == 200  # cached now

    project_status_set(
        project=wheel.release.project, actor=tenant.owner, status="quarantined", reason="malware"
    )

    # With no file offered there is no release to describe: no document at all.
    whole = client.get("/acme/main/pypi/demo/json")
    one = client.get("/acme/main/pypi/demo/1.0/json")
    assert (whole.status_code, one.status_code) == (404, 404)
    for response in (whole, one):
        assert wheel.filename.encode() not in response.content
        assert wheel.sha256.encode() not in response.content
    assert whole.reason_phrase == "Project 'demo' has no files to offer."
