from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import organization_create
from accounts.validators import validate_organization_slug
from accounts.validators import validate_repository_slug
from registry.models import Repository
from registry.services import repository_create


@pytest.mark.parametrize("slug", ["admin", "healthz", "static", "api"])
def test_it_refuses_organization_slugs_that_shadow_routes(slug: str) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        validate_organization_slug(slug)


@pytest.mark.parametrize("slug", ["simple", "legacy", "files"])
def test_it_refuses_repository_slugs_that_shadow_routes(slug: str) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        validate_repository_slug(slug)


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "ac me", "a" * 65, ""])
def test_it_refuses_malformed_slugs(slug: str) -> None:
    with pytest.raises(ValidationError):
        validate_organization_slug(slug)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["acme", "a", "acme-corp-2"])
def test_it_accepts_plain_slugs(slug: str) -> None:
    """Through the services that validate them: the organization and repository are saved
    under exactly the slug asked for, which is what their URLs carry."""
    owner = User.objects.create_user("owner@acme.test")
    organization = organization_create(slug=slug, name="", creator=owner)
    repository = repository_create(organization=organization, actor=owner, slug=slug)
    saved = Repository.objects.select_related("organization").get(pk=repository.pk)
    assert (saved.organization.slug, saved.slug) == (slug, slug)
    assert saved.organization.name == slug
