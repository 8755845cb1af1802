"""Routes of the analytics pages (under the registry dashboard's URL shapes)."""

from __future__ import annotations

from django.urls import path

from analytics import dashboard

repo = "orgs/<slug:org>/repos/<slug:repo>"
project = f"{repo}/projects/<str:project>"

urlpatterns = [
    path(f"{repo}/retention/", dashboard.retention, name="repo-retention"),
    path(f"{project}/downloads/", dashboard.project_downloads, name="project-downloads"),
    path(f"{project}/downloads.csv", dashboard.project_downloads_csv, name="project-downloads-csv"),
]
