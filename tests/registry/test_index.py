"""The simple index, JSON API and downloads, in-process on local storage and the local cache."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

from accounts.models import User
from registry.index.negotiation import HTML
from registry.index.negotiation import V1_HTML
from registry.index.negotiation import V1_JSON
from registry.models import File
from registry.models import Release
from registry.models import Repository
from registry.services import project_status_set
from registry.services import release_yank
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.world import Tenant
from tests.world import key_client
from tests.world import publish
from uploads.errors import UploadError
from uploads.web import upload_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("locmem_cache")]

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
POETRY_ACCEPT = "application/vnd.pypi.simple.v1+json, */*;q=0.1"


@pytest.fixture
def repository(tenant: Tenant) -> Repository:
    return tenant.repository


@pytest.fixture
def client(tenant: Tenant) -> Client:
    return key_client(tenant.token)


URL = "/acme/main/simple/"


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        (PIP_ACCEPT, "", V1_JSON),
        (UV_ACCEPT, "", V1_JSON),
        (POETRY_ACCEPT, "", V1_JSON),
        (None, "", HTML),  # hatch sends no Accept header
        ("*/*", "", HTML),
        ("text/html", "", HTML),
        ("application/vnd.pypi.simple.v1+html", "", V1_HTML),
        ("application/vnd.pypi.simple.latest+json", "", V1_JSON),
        ("application/json", "", HTML),  # nothing offered matches: HTML, never 406
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5", "", HTML),
        (PIP_ACCEPT, "?format=text/html", HTML),
        (None, "?format=application/vnd.pypi.simple.v1+json", V1_JSON),
    ],
)
def test_it_negotiates_the_serialization(client, repository, accept, query, expected) -> None:
    publish(repository, Package("demo", "1.0"))
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    for path in (URL, f"{URL}demo/"):
        response = client.get(f"{path}{query}", **headers)
        assert response.status_code == 200
        assert response["Content-Type"].split(";")[0] == expected
        assert response["Vary"] == "Accept"


def test_it_refuses_a_format_it_does_not_offer(client) -> None:
    response = client.get(f"{URL}?format=application/xml")
    assert response.status_code == 406
    assert "Unsupported format" in response.content.decode()


def test_it_serves_every_modern_field_in_html(client, repository) -> None:
    wheel = publish(repository, Package("Demo.Pkg", "1.0", requires_python=">=3.8,<4"))
    sdist = publish(repository, Package("Demo.Pkg", "1.0", requires_python=">=3.8,<4"), sdist=True)

    page = client.get(f"{URL}demo-pkg/").content.decode()

    assert '<meta name="pypi:repository-version" content="1.4">' in page
    assert '<meta name="pypi:project-status" content="active">' in page
    anchors = dict(re.findall(r"<a ([^>]+)>([^<]+)</a>", page)[i][::-1] for i in range(2))
    wheel_anchor = anchors[wheel.filename]
    assert (
        f'/acme/main/files/{wheel.sha256}/{wheel.filename}#sha256={wheel.sha256}"' in wheel_anchor
    )
    requires = re.search(r'data-requires-python="([^"]+)"', wheel_anchor)
    assert requires is not None
    assert sorted(requires.group(1).split(",")) == ["&gt;=3.8", "&lt;4"]
    assert f'data-core-metadata="sha256={wheel.metadata_sha256}"' in wheel_anchor
    assert f'data-dist-info-metadata="sha256={wheel.metadata_sha256}"' in wheel_anchor
    assert f'data-size="{wheel.size}"' in wheel_anchor
    assert re.search(r'data-upload-time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"', wheel_anchor)
    assert "data-core-metadata" not in anchors[sdist.filename]
    assert "data-yanked" not in page


def test_it_serves_every_modern_field_in_json(client, repository) -> None:
    wheel = publish(repository, Package("Demo.Pkg", "1.0", requires_python=">=3.8"))
    publish(repository, Package("Demo.Pkg", "2.0"), sdist=True)

    response = client.get(f"{URL}demo-pkg/", HTTP_ACCEPT=PIP_ACCEPT)

    assert response["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    data = json.loads(response.content)
    assert data["meta"] == {"api-version": "1.4"}
    assert data["name"] == "demo-pkg"
    assert data["versions"] == ["1.0", "2.0"]
    assert data["project-status"] == {"status": "active"}
    first, second = data["files"]
    assert first == {
        "filename": wheel.filename,
        "url": f"/acme/main/files/{wheel.sha256}/{wheel.filename}",
        "hashes": {"sha256": wheel.sha256},
        "requires-python": ">=3.8",
        "size": wheel.size,
        "upload-time": first["upload-time"],
        "yanked": False,
        "core-metadata": {"sha256": wheel.metadata_sha256},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["upload-time"])
    assert second["core-metadata"] is False
    assert "dist-info-metadata" not in response.content.decode()


def test_it_lists_projects_with_ready_files_in_both_forms(client, repository) -> None:
    publish(repository, Package("Zeta_Pkg", "1.0"))
    publish(repository, Package("alpha", "1.0"))

    html = client.get(URL).content.decode()
    data = json.loads(client.get(URL, HTTP_ACCEPT=UV_ACCEPT).content)

    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', html) == [
        ("alpha/", "alpha"),
        ("zeta-pkg/", "Zeta_Pkg"),
    ]
    assert data == {
        "meta": {"api-version": "1.4"},
        "projects": [{"name": "alpha"}, {"name": "Zeta_Pkg"}],
    }


def test_it_marks_a_yanked_release_with_its_reason(client, repository) -> None:
    publish(repository, Package("demo", "1.0"))
    publish(repository, Package("demo", "1.1"))
    before = client.get(f"{URL}demo/", HTTP_ACCEPT=PIP_ACCEPT)

    owner = User.objects.get(email="owner@acme.test")
    release_yank(release=Release.objects.get(version="1.1"), actor=owner, reason="broken <build>")

    after = client.get(f"{URL}demo/", HTTP_ACCEPT=PIP_ACCEPT, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert [f["yanked"] for f in json.loads(after.content)["files"]] == [False, "broken <build>"]
    html = client.get(f"{URL}demo/").content.decode()
    assert 'data-yanked="broken &lt;build&gt;"' in html


def test_it_answers_304_until_the_page_changes(client, repository) -> None:
    publish(repository, Package("demo", "1.0"))
    first = client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT)
    assert first["Cache-Control"] == "private, max-age=0, must-revalidate"
    etag = first["ETag"]
    assert etag.startswith('"')

    again = client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT, HTTP_IF_NONE_MATCH=etag)
    weak = client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT, HTTP_IF_NONE_MATCH=f"W/{etag}")
    html = client.get(f"{URL}demo/", HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    assert weak.status_code == 304
    assert html.status_code == 200  # another representation, another tag

    root = client.get(URL)
    assert client.get(URL, HTTP_IF_NONE_MATCH=root["ETag"]).status_code == 304

    publish(repository, Package("demo", "1.1"))
    changed = client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert "demo-1.1-py3-none-any.whl" in changed.content.decode()
    publish(repository, Package("other", "1.0"))
    assert client.get(URL, HTTP_IF_NONE_MATCH=root["ETag"]).status_code == 200


def test_it_renders_a_page_with_the_same_queries_however_many_files(
    client, repository, django_assert_max_num_queries
) -> None:
    for minor in range(3):
        publish(repository, Package("demo", f"1.{minor}"))
    with django_assert_max_num_queries(8) as few:
        client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT)
    for minor in range(3, 12):
        publish(repository, Package("demo", f"1.{minor}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT)
    assert len(json.loads(page.content)["files"]) == 12


def test_it_serves_a_cached_page_without_querying_files(
    client, repository, django_assert_max_num_queries
) -> None:
    publish(repository, Package("demo", "1.0"))
    client.get(f"{URL}demo/")
    with django_assert_max_num_queries(8) as queries:
        client.get(f"{URL}demo/")
    assert not any("registry_file" in q["sql"] for q in queries.captured_queries)


def test_it_shows_project_status_and_archived_projects_refuse_uploads(
    client, repository, tenant
) -> None:
    publish(repository, Package("demo", "1.0"))
    project = File.objects.get().release.project

    project_status_set(
        project=project, actor=tenant.owner, status="archived", reason="moved to demo2"
    )

    data = json.loads(client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT).content)
    assert data["project-status"] == {"status": "archived", "reason": "moved to demo2"}
    assert len(data["files"]) == 1
    html = client.get(f"{URL}demo/").content.decode()
    assert '<meta name="pypi:project-status" content="archived">' in html
    assert '<meta name="pypi:project-status-reason" content="moved to demo2">' in html
    with pytest.raises(UploadError) as refused:
        publish(repository, Package("demo", "1.1"))
    assert upload_status(refused.value) == 400
    assert "archived" in str(refused.value)

    project_status_set(project=project, actor=tenant.owner, status="quarantined")
    quarantined = json.loads(client.get(f"{URL}demo/", HTTP_ACCEPT=UV_ACCEPT).content)
    assert (quarantined["files"], quarantined["versions"]) == ([], [])


def test_it_redirects_names_and_slashes_to_the_canonical_url(client, repository) -> None:
    publish(repository, Package("Demo.Pkg", "1.0"))
    cases = {
        f"{URL}Demo.Pkg/": f"{URL}demo-pkg/",
        f"{URL}demo_pkg/?format=text/html": f"{URL}demo-pkg/?format=text/html",
        f"{URL}demo-pkg": f"{URL}demo-pkg/",
        "/acme/main/simple": URL,
        "/acme/main/pypi/Demo.Pkg/json": "/acme/main/pypi/demo-pkg/json",
    }
    for path, target in cases.items():
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (301, target), path


def test_it_answers_404_for_a_missing_project(client) -> None:
    response = client.get(f"{URL}nothing-here/")
    assert response.status_code == 404
    assert response.reason_phrase == "Project 'nothing-here' not found."


def test_it_serves_the_warehouse_json_api(client, repository) -> None:
    wheel = publish(repository, Package("Demo.Pkg", "1.0", requires=["other>=1"]))
    publish(repository, Package("Demo.Pkg", "2.0rc1"))

    response = client.get("/acme/main/pypi/demo-pkg/json")
    one = client.get("/acme/main/pypi/demo-pkg/2.0rc1/json")

    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["info"]["name"] == "Demo.Pkg"
    assert data["info"]["version"] == "1.0"  # the newest final release
    assert data["info"]["requires_dist"] == ["other>=1"]
    assert data["info"]["summary"] == "A package made by the test suite"
    assert sorted(data["releases"]) == ["1.0", "2.0rc1"]
    (url,) = data["urls"]
    assert url["filename"] == wheel.filename
    assert url["digests"] == {
        "md5": wheel.md5,
        "sha256": wheel.sha256,
        "blake2b_256": wheel.blake2_256,
    }
    assert url["url"] == f"http://testserver/acme/main/files/{wheel.sha256}/{wheel.filename}"
    assert url["size"] == wheel.size
    assert json.loads(one.content)["info"]["version"] == "2.0rc1"
    assert "releases" not in json.loads(one.content)
    assert client.get("/acme/main/pypi/demo-pkg/9.9/json").status_code == 404
    assert client.get("/acme/main/pypi/nothing/json").status_code == 404


def test_it_serves_the_page_hatch_probes_under_the_upload_url(client, repository) -> None:
    wheel = publish(repository, Package("demo", "1.0"))
    response = client.get("/acme/main/legacy/+simple/demo/", HTTP_ACCEPT=UV_ACCEPT)
    assert response["Content-Type"].startswith("text/html")
    assert re.findall(r"<a [^>]+>([^<]+)</a>", response.content.decode()) == [wheel.filename]


def test_it_streams_files_with_ranges_on_local_storage(client, repository) -> None:
    wheel = publish(repository, Package("demo", "1.0"))
    url = f"/acme/main/files/{wheel.sha256}/{wheel.filename}"
    data = wheel_bytes(Package("demo", "1.0"))

    head = client.head(url)
    full = client.get(url)
    tail = client.get(url, HTTP_RANGE="bytes=-22")
    middle = client.get(url, HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE=f'"{wheel.sha256}"')
    stale = client.get(url, HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE='"other"')
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")

    assert head.status_code == 200
    assert head["Content-Length"] == str(len(data))
    assert head["Accept-Ranges"] == "bytes"
    assert head.content == b""
    assert full["Cache-Control"] == "private, max-age=31536000, immutable"
    assert full["Content-Disposition"] == f'attachment; filename="{wheel.filename}"'
    assert b"".join(full.streaming_content) == data
    assert tail.status_code == 206
    assert tail["Content-Range"] == f"bytes {len(data) - 22}-{len(data) - 1}/{len(data)}"
    assert b"".join(tail.streaming_content) == data[-22:]
    assert (middle.status_code, b"".join(middle.streaming_content)) == (206, data[10:20])
    assert stale.status_code == 200
    assert (beyond.status_code, beyond["Content-Range"]) == (416, f"bytes */{len(data)}")

    metadata = client.get(f"{url}.metadata")
    body = b"".join(metadata.streaming_content)
    assert hashlib.sha256(body).hexdigest() == wheel.metadata_sha256
    assert client.get(f"/acme/main/files/{wheel.sha256}/other.whl").status_code == 404
    for response in (full, tail, middle, stale, metadata):
        response.close()
