"""A script with one management-scoped key runs the registry through /api/v1/ alone; the same
calls with a key lacking each scope are refused with that scope named."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Membership
from accounts.models import Role
from accounts.services import api_key_create
from registry.models import File
from tests.api.conftest import Api
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.world import World
from uploads.processing import file_process

pytestmark = pytest.mark.django_db

SVC = "orgs/acme/repos/svc"
RELEASE = f"{SVC}/projects/svc-lib/releases/1.0/"


def _key(world: World, name: str, scopes: list[str]) -> str:
    token = api_key_create(
        organization=world.org_a, name=name, scope=KeyScope.UPLOAD, management_scopes=scopes
    ).token
    world.tokens[name] = token
    return name


def _upload(api: Api, package: Package) -> Any:
    content = SimpleUploadedFile(wheel_filename(package), wheel_bytes(package))
    return api.client.post(f"/api/v1/{SVC}/files/", {"content": content})


def test_it_runs_the_registry_from_a_script_with_one_management_key(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    api = as_actor(world, _key(world, "automation", ManagementScope.values))

    created = api.post("orgs/acme/repos/", {"slug": "svc"})
    assert created.status_code == 201, created.content
    assert api.patch(f"{SVC}/", {"description": "a service"}).json()["description"] == "a service"

    minted = api.post("orgs/acme/keys/", {"name": "ci", "scopes": ["upload", "yank"]})
    assert minted.status_code == 201, minted.content
    assert minted.json()["scopes"] == ["read", "upload", "yank"]
    public_id = minted.json()["public_id"]
    rotated = api.post(f"orgs/acme/keys/{public_id}/rotate/")
    assert rotated.status_code == 201, rotated.content
    assert rotated.json()["scopes"] == ["read", "upload", "yank"]
    assert rotated.json()["token"] != minted.json()["token"]
    assert api.get(f"orgs/acme/keys/{public_id}/").json()["revoked_at"] is not None

    package = Package("svc-lib", "1.0")
    assert _upload(api, package).status_code == 201
    # The worker's part, in-process.
    file_process(file_id=File.objects.get(filename=wheel_filename(package)).pk)
    yanked = api.post(f"{RELEASE}yank/", {"reason": "broken"})
    assert yanked.json()["yanked"] is True
    assert api.delete(RELEASE).status_code == 204
    assert api.get(RELEASE).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        invited = api.post("orgs/acme/invitations/", {"email": "new@acme.test", "role": "member"})
    assert invited.status_code == 201, invited.content
    assert [m.to for m in mail.outbox] == [["new@acme.test"]]

    events = AuditEvent.objects.filter(actor_label__startswith="key ").values_list("action")
    assert {a for (a,) in events} >= {
        "repository.create", "api_key.create", "api_key.rotate", "release.yank",
        "release.delete", "invitation.create",
    }  # fmt: skip


# Each call, and the one scope it needs.
CALLS = [
    ("POST", "orgs/acme/repos/", {"slug": "svc2"}, "manage:repositories"),
    ("PATCH", "orgs/acme/repos/main/", {"description": "x"}, "manage:repositories"),
    ("POST", "orgs/acme/keys/", {"name": "ci", "scope": "read"}, "manage:keys"),
    # A key without manage:keys sees no other key (404): not even itself may it rotate or revoke.
    ("POST", "orgs/acme/keys/{itself}/rotate/", None, "manage:keys"),
    ("DELETE", "orgs/acme/keys/{itself}/", None, "manage:keys"),
    ("POST", "orgs/acme/repos/main/projects/acme-lib/releases/1.0/yank/", {}, "yank"),
    ("POST", "orgs/acme/repos/main/projects/acme-lib/releases/1.0/unyank/", None, "yank"),
    ("DELETE", "orgs/acme/repos/main/projects/acme-lib/releases/1.0/", None, "delete"),
    ("DELETE", "orgs/acme/repos/main/files/{file}", None, "delete"),
    ("POST", "orgs/acme/invitations/", {"email": "n@acme.test"}, "manage:members"),
    ("PATCH", "orgs/acme/members/extra@acme.test/", {"role": "reader"}, "manage:members"),
    ("DELETE", "orgs/acme/members/extra@acme.test/", None, "manage:members"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "scope"), CALLS)
def test_it_refuses_a_key_without_the_scope_and_names_it(
    world: World, method: str, path: str, body: Any, scope: str
) -> None:
    """Every other scope, and no scope at all: 403 naming the missing one; nothing changes."""
    others = [s for s in ManagementScope.values if s != scope]
    before = (ApiKey.objects.count(), Membership.objects.count(), File.objects.count())
    for name, scopes in (("no-scope", []), ("other-scopes", others)):
        api = as_actor(world, _key(world, name, scopes))
        itself = ApiKey.objects.get(name=name).public_id
        url = path.format(itself=itself, file=world.file.filename)
        refused = api.send(method, url, body)
        assert (refused.status_code, error(refused)["message"]) == (
            403,
            f"This API key lacks the {scope} scope.",
        ), name
    assert (ApiKey.objects.count(), Membership.objects.count(), File.objects.count()) == (
        before[0] + 2,
        *before[1:],
    )


def test_it_refuses_a_demoted_admins_personal_key_at_once(world: World) -> None:
    """The key keeps its scopes, but its user's role bounds it from the next request."""
    admin = world.memberships["admin"]
    api = as_actor(world, "key_personal_admin")
    first = api.post("orgs/acme/invitations/", {"email": "a@acme.test", "role": "member"})
    assert first.status_code == 201
    as_actor(world, "owner").patch("orgs/acme/members/admin@acme.test/", {"role": "member"})
    admin.refresh_from_db()
    assert admin.role == Role.MEMBER
    again = api.post("orgs/acme/invitations/", {"email": "b@acme.test", "role": "member"})
    assert (again.status_code, error(again)["message"]) == (
        403,
        "This personal API key's user may not manage/members here.",
    )


def test_it_keeps_the_scope_field_for_existing_clients(world: World) -> None:
    """`scope` alone makes the same key as before; answers carry both fields."""
    api = as_actor(world, "admin")
    made = api.post("orgs/acme/keys/", {"name": "old-client", "scope": "upload"}).json()
    assert (made["scope"], made["scopes"]) == ("upload", ["read", "upload"])
    both = api.post("orgs/acme/keys/", {"name": "x", "scope": "read", "scopes": ["yank"]})
    assert both.status_code == 400
    me = as_actor(world, "key_yank").get("user/").json()["api_key"]
    assert (me["scope"], me["scopes"]) == ("upload", ["read", "upload", "yank"])
