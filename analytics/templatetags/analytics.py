"""Download numbers inside the registry's pages, which cannot import this app: the
organization's usage (`{% organization_downloads organization %}`) and a project's
downloads with each version's last download (`{% project_downloads_card project %}`)."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import Organization
from analytics import selectors
from registry.models import Project
from registry.names import normalize_version

register = template.Library()


@register.inclusion_tag("analytics/_organization_downloads.html", takes_context=True)
def organization_downloads(context: template.Context, organization: Organization) -> dict[str, Any]:
    actor = context["request"].user
    days = selectors.PERIODS[0]
    return {
        "organization": organization,
        "numbers": selectors.organization_downloads(
            actor=actor, organization=organization, days=days, with_storage=False
        ),
    }


@register.inclusion_tag("analytics/_project_downloads.html")
def project_downloads_card(project: Project, releases: list[Any]) -> dict[str, Any]:
    """The project page's side card; the project was reached through the reader's access."""
    last = {
        normalize_version(version): at
        for version, at in selectors.last_downloaded(project=project).items()
    }
    return {
        "project": project,
        "repository": project.repository,
        "organization": project.repository.organization,
        "versions": [(r.version, last.get(r.canonical_version)) for r in releases],
    }
