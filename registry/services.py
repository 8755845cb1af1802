"""Writes for repositories."""

from __future__ import annotations

from accounts.models import Organization
from registry.models import Repository


def repository_get_or_create(
    *, organization: Organization, slug: str, description: str = ""
) -> Repository:
    repository = Repository.objects.filter(organization=organization, slug=slug).first()
    if repository is None:
        repository = Repository(organization=organization, slug=slug, description=description)
        repository.full_clean()
        repository.save()
    return repository


def repository_urls(repository: Repository, *, base_url: str) -> dict[str, str]:
    """The URLs a client configures for this repository."""
    root = f"{base_url.rstrip('/')}/{repository.organization.slug}/{repository.slug}"
    return {"index_url": f"{root}/simple/", "upload_url": f"{root}/legacy/"}
