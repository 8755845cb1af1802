"""What readers see of downloads: the project's chart and table, the last download of each
version on the project page, the organization's totals and top projects, the API and the
CSV, each only for who may read the repository."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.models import Role
from accounts.models import User
from accounts.services import api_key_create
from core import downloads
from registry.models import File
from registry.services import repository_create
from tests.analytics.user_agents import PIP
from tests.analytics.user_agents import UV
from tests.artifacts import Package
from tests.world import Tenant
from tests.world import download
from tests.world import key_client
from tests.world import publish

pytestmark = pytest.mark.django_db


def _downloaded(
    tenant: Tenant, file: File, user_agent: str, times: int, repo: str = "main"
) -> None:
    client = key_client(tenant.token)
    client.defaults["HTTP_USER_AGENT"] = user_agent
    for _ in range(times):
        assert download(client, f"/acme/{repo}/files/{file.sha256}/{file.filename}")[0] == 200


@pytest.fixture
def counted(tenant: Tenant) -> dict[str, File]:
    files = {v: publish(tenant.repository, Package("demo", v)) for v in ("1.0", "1.1", "2.0")}
    _downloaded(tenant, files["1.0"], PIP, 3)
    _downloaded(tenant, files["1.1"], UV, 2)
    downloads.flush()
    return files


def _reader(tenant: Tenant) -> Client:
    user = User.objects.create_user("reader@acme.test")
    Membership.objects.create(
        user=user, organization=tenant.repository.organization, role=Role.READER
    )
    client = Client()
    client.force_login(user)
    return client


def test_a_reader_sees_the_chart_and_its_table_by_version_and_installer(
    tenant: Tenant, counted: dict[str, File]
) -> None:
    client = _reader(tenant)
    url = "/orgs/acme/repos/main/projects/demo/downloads/"
    page = client.get(url).content.decode()
    assert '<svg id="downloads-chart"' in page
    assert page.count("<rect x=") == 2  # today's bar, one segment per version
    assert 'id="downloads-total">5<' in page
    table = page[page.index('id="downloads-table"') :]
    assert '<th scope="row">1.0</th><td class="num" data-label="Downloads">3</td>' in table
    assert '<th scope="row">1.1</th><td class="num" data-label="Downloads">2</td>' in table

    by_installer = client.get(url, {"by": "installer", "days": "90"}).content.decode()
    table = by_installer[by_installer.index('id="downloads-table"') :]
    assert '<th scope="row">pip</th><td class="num" data-label="Downloads">3</td>' in table
    assert '<th scope="row">uv</th><td class="num" data-label="Downloads">2</td>' in table

    refused = client.get(url, {"days": "7"})
    assert refused.status_code == 400
    assert refused.content.decode() == "'days' must be one of 30, 90."


def test_the_project_page_says_when_each_version_was_last_downloaded(
    tenant: Tenant, counted: dict[str, File]
) -> None:
    page = _reader(tenant).get("/orgs/acme/repos/main/projects/demo/").content.decode()
    card = page[page.index('id="project-downloads"') :]
    card = card[: card.index("</section>")]
    rows = dict(
        (version, "never" not in rest)
        for version, rest in (
            chunk.split("</th>", 1) for chunk in card.split('<th scope="row">')[1:]
        )
    )
    assert rows == {"2.0": False, "1.1": True, "1.0": True}


def test_the_organization_page_totals_downloads_and_its_top_projects(
    tenant: Tenant, counted: dict[str, File]
) -> None:
    other = repository_create(
        organization=tenant.repository.organization, actor=tenant.owner, slug="other"
    )
    _downloaded(tenant, publish(other, Package("tool", "0.1")), PIP, 1, repo="other")
    downloads.flush()
    page = _reader(tenant).get("/orgs/acme/").content.decode()
    assert 'id="org-downloads-recent">6<' in page
    top = page[page.index('id="organization-downloads"') :]
    assert top.index(">demo</a>") < top.index(">tool</a>")

    # A key limited to one repository learns nothing of the others.
    limited = api_key_create(
        organization=tenant.repository.organization, name="lim", scope="read",
        repositories=[other],
    )  # fmt: skip
    numbers = key_client(limited.token).get("/api/v1/orgs/acme/downloads/").json()
    assert (numbers["downloads"], numbers["all_time"]) == (1, 1)
    assert numbers["top_projects"] == [{"repository": "other", "project": "tool", "downloads": 1}]
    everything = key_client(tenant.token).get("/api/v1/orgs/acme/downloads/?days=90").json()
    assert everything["downloads"] == 6
    assert everything["file_count"] == 4


def test_the_api_and_the_csv_give_the_same_numbers(
    tenant: Tenant, counted: dict[str, File]
) -> None:
    client = key_client(tenant.token)
    answer = client.get("/api/v1/orgs/acme/repos/main/projects/demo/downloads/")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert len(body["days"]) == 30
    assert {s["name"]: s["total"] for s in body["by_version"]} == {"1.0": 3, "1.1": 2}
    assert {s["name"]: s["total"] for s in body["by_installer"]} == {"pip": 3, "uv": 2}
    assert set(body["last_downloaded"]) == {"1.0", "1.1"}
    bad = client.get("/api/v1/orgs/acme/repos/main/projects/demo/downloads/?days=7")
    assert bad.status_code == 400

    exported = _reader(tenant).get("/orgs/acme/repos/main/projects/demo/downloads.csv")
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert sorted((r["filename"], r["installer"], r["python"], r["count"]) for r in rows) == [
        (counted["1.0"].filename, "pip", "3.11.7", "3"),
        (counted["1.1"].filename, "uv", "3.11.7", "2"),
    ]


def test_another_organization_sees_none_of_it(tenant: Tenant, counted: dict[str, File]) -> None:
    stranger = User.objects.create_user("stranger@globex.test")
    client = Client()
    client.force_login(stranger)
    assert client.get("/orgs/acme/repos/main/projects/demo/downloads/").status_code == 404
    assert client.get("/orgs/acme/repos/main/projects/demo/downloads.csv").status_code == 404
    assert client.get("/api/v1/orgs/acme/downloads/").status_code == 404
