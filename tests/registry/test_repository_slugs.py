"""Repositories made by provisioning, and their slugs: unique in an organization, not beyond."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from registry.models import Repository
from registry.models import RepositorySlugAlias
from registry.services import repository_create
from registry.services import repository_get_or_create
from registry.services import repository_update
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.world import World
from tests.world import download
from tests.world import key_client

pytestmark = pytest.mark.django_db


def test_provisioning_records_each_new_repository_once_as_the_systems_work(
    world: World,
) -> None:
    """The repositories the world was provisioned with: no description, and one event each in
    their own organization's log, by nobody, saying provisioning made it."""
    assert world.repo_a.description == ""
    again = repository_get_or_create(organization=world.org_a, slug="main", description="new")
    assert (again.pk, again.description) == (world.repo_a.pk, "")
    created = AuditEvent.objects.filter(action="repository.create").order_by("pk")
    assert [(e.organization, e.target, e.actor_label, e.details) for e in created] == [
        (world.org_a, "repository acme/main", "", {"via": "provisioning"}),
        (world.org_a, "repository acme/other", "", {"via": "provisioning"}),
        (world.org_b, "repository globex/main", "", {"via": "provisioning"}),
        (world.org_a, "repository acme/gone", "", {"via": "provisioning"}),
    ]


def test_a_slug_taken_in_another_organization_is_free_in_this_one(world: World) -> None:
    globex = as_actor(world, "b_member")
    assert globex.post("orgs/globex/repos/", {"slug": "tools"}).status_code == 201
    acme = as_actor(world, "owner")
    assert acme.post("orgs/acme/repos/", {"slug": "tools"}).status_code == 201
    assert acme.patch("orgs/acme/repos/other/", {"slug": "tools"}).status_code == 400
    renamed = acme.patch("orgs/acme/repos/main/", {"slug": "main", "description": "Ours"})
    assert renamed.status_code == 200
    assert Repository.objects.filter(slug="tools").count() == 2
    clash = acme.post("orgs/acme/repos/", {"slug": "tools"})
    assert error(clash)["fields"] == {"slug": ["A repository named 'tools' already exists."]}


def test_a_former_slug_is_released_only_by_a_new_repository_of_that_name_in_its_organization(
    world: World,
) -> None:
    """Another organization's repository of that name, or another name here, leave the
    former slug answering and nothing in anyone's log; taking it here is audited here."""
    owner = world.users["owner"]
    repository_update(repository=world.repo_a2, actor=owner, slug="tools")
    repository_create(organization=world.org_b, actor=world.users["b_member"], slug="other")
    repository_create(organization=world.org_a, actor=owner, slug="docs")
    reader = key_client(world.tokens["key_read"])
    assert download(reader, "/acme/other/simple/")[0] == 200
    assert list(RepositorySlugAlias.objects.values_list("organization__slug", "slug")) == [
        ("acme", "other")
    ]
    assert not AuditEvent.objects.filter(action="repository.former_slug_taken").exists()
    repository_create(organization=world.org_a, actor=owner, slug="other")
    assert not RepositorySlugAlias.objects.exists()
    [taken] = AuditEvent.objects.filter(action="repository.former_slug_taken")
    assert (taken.organization, taken.target, taken.details) == (
        world.org_a,
        "repository acme/tools",
        {"former_slug": "other"},
    )
