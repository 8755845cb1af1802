"""`{% trusted_publishers repository %}`: the section of the repository settings page that
lists, adds and removes trusted publishers (rendered by the registry's settings view)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from publishing.forms import PublisherForm
from publishing.selectors import publishers_of
from registry.models import Repository

register = template.Library()


@register.inclusion_tag("publishing/_publishers.html", takes_context=True)
def trusted_publishers(context: template.Context, repository: Repository) -> dict[str, Any]:
    actor = context["request"].user
    return {
        "repository": repository,
        "organization": repository.organization,
        "publishers": list(publishers_of(actor=actor, repository=repository)),
        "form": PublisherForm(),
        "audience": settings.OIDC_AUDIENCE,
        "csrf_token": context.get("csrf_token"),
    }
