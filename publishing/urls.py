"""Routes of the trusted publishers section of a repository's settings page."""

from __future__ import annotations

from django.urls import path

from publishing import dashboard

repo = "orgs/<slug:org>/repos/<slug:repo>"

urlpatterns = [
    path(f"{repo}/settings/publishers/", dashboard.publisher_add, name="publisher-add"),
    path(
        f"{repo}/settings/publishers/<int:publisher_id>/remove/",
        dashboard.publisher_remove,
        name="publisher-remove",
    ),
]
