"""What the registry's services say when they refuse: the words a user reads, in full."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from registry.models import File
from registry.models import Project
from registry.services import organization_delete
from registry.services import project_status_set
from registry.services import project_upload_refusal
from registry.services import repository_delete
from registry.services import repository_update
from registry.storage import stored_keys
from tests.world import World

pytestmark = pytest.mark.django_db


def test_it_says_why_a_project_takes_no_uploads(world: World) -> None:
    project = Project.objects.get(repository=world.repo_a, normalized_name="acme-lib")
    owner = world.users["owner"]
    assert project_upload_refusal(repository=world.repo_a, name="Acme_Lib") is None
    project_status_set(project=project, actor=owner, status="archived", reason="moved to acme-core")
    assert project_upload_refusal(repository=world.repo_a, name="Acme_Lib") == (
        "Project 'acme-lib' is archived and accepts no uploads: moved to acme-core"
    )
    # Another project, or another repository's project of the same name, takes uploads.
    assert project_upload_refusal(repository=world.repo_a, name="acme-tools") is None
    assert project_upload_refusal(repository=world.repo_a2, name="acme-lib") is None
    project_status_set(project=project, actor=owner, status="quarantined")
    assert project_upload_refusal(repository=world.repo_a, name="acme-lib") == (
        "Project 'acme-lib' is quarantined and accepts no uploads."
    )
    project_status_set(project=project, actor=owner, status="deprecated", reason="use acme-core")
    assert project_upload_refusal(repository=world.repo_a, name="acme-lib") is None


def test_it_asks_for_the_exact_name_before_deleting(world: World) -> None:
    owner = world.users["owner"]
    with pytest.raises(ValidationError) as refused:
        repository_delete(repository=world.repo_a, actor=owner, confirm_slug="Main")
    assert refused.value.messages == ["Type the repository's name exactly to confirm deletion."]
    with pytest.raises(ValidationError) as refused:
        organization_delete(organization=world.org_a, actor=owner, confirm_slug="acme ")
    assert refused.value.messages == ["Type the organization's slug exactly to confirm deletion."]


def test_it_keeps_a_repository_limit_within_the_servers(world: World, settings: Any) -> None:
    settings.MAX_UPLOAD_SIZE = 1000
    owner = world.users["owner"]
    for size in (0, -1, 1001):
        with pytest.raises(ValidationError) as refused:
            repository_update(repository=world.repo_a, actor=owner, max_file_size=size)
        assert refused.value.message_dict == {
            "max_file_size": ["The limit must be positive and at most the server's limit."]
        }, size
    for size in (1, 1000):
        repository_update(repository=world.repo_a, actor=owner, max_file_size=size)
        world.repo_a.refresh_from_db()
        assert world.repo_a.max_file_size == size


def test_it_records_who_deleted_an_organization(world: World) -> None:
    owner = world.users["owner"]
    stored = stored_keys(File.objects.filter(repository__organization=world.org_a))
    organization_delete(
        organization=world.org_a, actor=owner, confirm_slug="acme", source_ip="10.1.2.3"
    )
    event = AuditEvent.objects.get(action="organization.delete")
    assert (event.actor_user, event.target, event.source_ip) == (
        owner,
        "organization acme",
        "10.1.2.3",
    )
    # Its slug, as the organization is gone, and how many stored objects went with it.
    assert event.details == {"organization": "acme", "stored_objects": len(stored)}
