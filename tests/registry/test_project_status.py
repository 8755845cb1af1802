"""PEP 792 project status from the dashboard and the REST API: who may set it, that it is
audited with its reason, and that the project page, the package list and the index show it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from registry.models import Project
from registry.services import project_status_set
from tests.world import World
from tests.world import as_user
from tests.world import key_client

pytestmark = pytest.mark.django_db

PROJECT = "/orgs/acme/repos/main/projects/acme-lib/"
API = "/api/v1/orgs/acme/repos/main/projects/Acme_Lib/status/"


def text(response: Any) -> str:
    return response.content.decode()


def _project(world: World) -> Project:
    return Project.objects.get(repository=world.repo_a, normalized_name="acme-lib")


def test_it_lets_admins_archive_with_a_reason_shown_on_the_page_and_list(world: World) -> None:
    admin = as_user(world, "admin")
    assert "Set status" in text(admin.get(PROJECT))

    page = admin.post(
        f"{PROJECT}status/", {"status": "archived", "reason": "Moved to acme-core"}, follow=True
    )

    project = _project(world)
    assert (project.status, project.status_reason) == ("archived", "Moved to acme-core")
    body = text(page)
    assert "acme-lib is now archived (no new uploads)." in body
    assert "This project is archived</strong>: it takes no new uploads" in body
    assert "Reason: Moved to acme-core" in body
    # Every role reads the status, on the project page and in the package list.
    reader = as_user(world, "reader")
    assert "This project is archived" in text(reader.get(PROJECT))
    listing = text(reader.get("/orgs/acme/repos/main/"))
    assert 'title="PEP 792 project status">archived</span>' in listing
    event = AuditEvent.objects.get(action="project.status")
    assert event.actor_label == "admin@acme.test"
    assert event.target == "project acme/main/acme-lib"
    assert event.details == {"from": "active", "to": "archived", "reason": "Moved to acme-core"}


def test_it_reactivates_and_forgets_the_old_reason(world: World) -> None:
    owner = as_user(world, "owner")
    owner.post(f"{PROJECT}status/", {"status": "quarantined", "reason": "malware"})
    assert "installers are offered none of its files" in text(owner.get(PROJECT))

    owner.post(f"{PROJECT}status/", {"status": "active", "reason": "stale words"})

    project = _project(world)
    assert (project.status, project.status_reason) == ("active", "")
    page = text(owner.get(PROJECT))
    assert "This project is" not in page
    assert [e.details["to"] for e in AuditEvent.objects.filter(action="project.status")] == [
        "quarantined",
        "active",
    ]


@pytest.mark.parametrize("role", ["member", "reader"])
def test_it_refuses_members_and_readers_and_offers_them_no_form(world: World, role: str) -> None:
    client = as_user(world, role)
    assert "Set status" not in text(client.get(PROJECT))
    refused = client.post(f"{PROJECT}status/", {"status": "archived"})
    assert refused.status_code == 403
    assert _project(world).status == "active"
    assert not AuditEvent.objects.filter(action="project.status").exists()


def test_it_says_what_is_wrong_with_an_unknown_status(world: World) -> None:
    admin = as_user(world, "admin")
    page = admin.post(f"{PROJECT}status/", {"status": "gone"}, follow=True)
    assert "Select a valid choice. gone is not one of the available choices." in text(page)
    assert _project(world).status == "active"
    with pytest.raises(ValidationError):
        project_status_set(project=_project(world), actor=world.users["admin"], status="gone")
    with pytest.raises(PermissionDenied):
        project_status_set(project=_project(world), actor=world.users["member"], status="active")


def test_it_sets_the_status_through_the_api_and_the_index_shows_it(world: World) -> None:
    admin = as_user(world, "admin")
    body = json.dumps({"status": "archived", "reason": "Moved to acme-core"})
    response = admin.put(API, body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert response.json()["status_reason"] == "Moved to acme-core"
    project = admin.get("/api/v1/orgs/acme/repos/main/projects/acme-lib/").json()
    assert (project["status"], project["status_reason"]) == ("archived", "Moved to acme-core")
    index = key_client(world.tokens["key_read"])
    page = index.get(
        "/acme/main/simple/acme-lib/", HTTP_ACCEPT="application/vnd.pypi.simple.v1+json"
    )
    assert json.loads(page.content)["project-status"] == {
        "status": "archived",
        "reason": "Moved to acme-core",
    }
    bad = admin.put(API, json.dumps({"status": "gone"}), content_type="application/json")
    assert bad.status_code == 400
    assert "status" in bad.content.decode()


def test_it_documents_the_status_endpoint_in_the_openapi_schema(world: World) -> None:
    schema = as_user(world, "reader").get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    paths = json.loads(schema.content)["paths"]
    operation = paths["/api/v1/orgs/{org}/repos/{repo}/projects/{project}/status/"]["put"]
    assert "archive, quarantine" in operation["summary"]
