"""Package lists: each project's latest version, summary and last release, pages of 50, and
one search across every repository of the organization (name, summary, keywords)."""

from __future__ import annotations

from typing import Any

import pytest

from registry.models import Project
from registry.models import Release
from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    return response.content.decode()


def _project(world: World, name: str, *, other: bool = False, **release: Any) -> Project:
    repository = world.repo_a2 if other else world.repo_a
    project = Project.objects.create(repository=repository, name=name, normalized_name=name)
    Release.objects.create(project=project, version="1.0", canonical_version="1", **release)
    return project


def test_it_pages_a_long_list_of_projects(world: World) -> None:
    for i in range(60):
        _project(world, f"svc-lib-{i:02}")
    reader = as_user(world, "reader")
    first = text(reader.get("/orgs/acme/repos/main/"))
    assert "svc-lib-00" in first
    assert "svc-lib-59" not in first
    assert "Page 1 of 2 · 61 in all" in first
    assert 'href="?page=2" rel="next"' in first
    second = text(reader.get("/orgs/acme/repos/main/", {"page": "2"}))
    assert "svc-lib-59" in second
    assert 'rel="prev"' in second
    # The search is kept from page to page.
    searched = text(reader.get("/orgs/acme/repos/main/", {"q": "svc"}))
    assert 'href="?q=svc&amp;page=2" rel="next"' in searched


def test_it_searches_every_repository_of_the_organization(world: World) -> None:
    _project(world, "rocket", summary="Rocket fuel for pipelines")
    _project(world, "launcher", other=True, metadata={"keywords": ["rockets", "space"]})
    _project(world, "unrelated", other=True, summary="Nothing to see")
    reader = as_user(world, "reader")
    assert 'action="/orgs/acme/search/"' in text(reader.get("/orgs/acme/"))

    page = text(reader.get("/orgs/acme/search/", {"q": "rocket"}))

    assert '<a href="/orgs/acme/repos/main/projects/rocket/"><strong>rocket</strong></a>' in page
    assert '<div class="small muted">Rocket fuel for pipelines</div>' in page
    # Found by a keyword, in the other repository, and linked there.
    assert '<a href="/orgs/acme/repos/other/projects/launcher/">' in page
    assert '<td data-label="Repository"><a href="/orgs/acme/repos/other/">other</a></td>' in page
    assert "unrelated" not in page
    # Another organization's projects are never found.
    assert "globex" not in text(reader.get("/orgs/acme/search/", {"q": "sentinel"}))
    assert "No project of Acme matches “zzz”." in text(
        reader.get("/orgs/acme/search/", {"q": "zzz"})
    )
