"""Routes of the registry's dashboard pages: an organization's repositories, a repository's
projects and how to connect to it, a project's releases and files."""

from __future__ import annotations

from django.urls import path

from registry.dashboard import kinds
from registry.dashboard import projects
from registry.dashboard import repositories

org = "orgs/<slug:org>"
repo = f"{org}/repos/<slug:repo>"
project = f"{repo}/projects/<str:project>"
# Versions may hold "+" and "!" (local and epoch segments), so any path segment.
release = f"{project}/versions/<str:version>"

urlpatterns = [
    path(f"{org}/", repositories.org_detail, name="org-detail"),
    path(f"{org}/delete/", repositories.org_delete, name="org-delete"),
    path(f"{org}/search/", projects.organization_search, name="org-search"),
    path(f"{org}/repos/new/", repositories.repository_create, name="repo-create"),
    path(f"{repo}/", projects.repository_detail, name="repo-detail"),
    path(f"{repo}/connect/", projects.repository_connect, name="repo-connect"),
    path(f"{repo}/settings/", repositories.repository_edit, name="repo-edit"),
    path(f"{repo}/delete/", repositories.repository_delete, name="repo-delete"),
    path(f"{repo}/cache/purge/", kinds.cache_purge, name="repo-purge"),
    path(
        f"{repo}/cache/<str:project>/purge/", kinds.cache_purge_project, name="repo-purge-project"
    ),
    path(f"{repo}/overrides/", kinds.override_add, name="repo-override-add"),
    path(
        f"{repo}/overrides/<str:project>/remove/",
        kinds.override_remove,
        name="repo-override-remove",
    ),
    path(f"{project}/", projects.project_detail, name="project-detail"),
    path(f"{project}/status/", projects.project_status, name="project-status"),
    path(f"{project}/badge.svg", projects.project_badge, name="project-badge"),
    path(f"{project}/badge/", projects.project_badge_set, name="project-badge-set"),
    path(f"{release}/", projects.release_detail, name="release-detail"),
    path(f"{release}/yank/", projects.release_yank, name="release-yank"),
    path(f"{release}/unyank/", projects.release_unyank, name="release-unyank"),
    path(f"{release}/delete/", projects.release_delete, name="release-delete"),
    path(f"{release}/files/<int:file_id>/delete/", projects.file_delete, name="file-delete"),
]
