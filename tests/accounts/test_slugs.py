from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.validators import validate_organization_slug
from accounts.validators import validate_repository_slug


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


@pytest.mark.parametrize("slug", ["acme", "a", "acme-corp-2"])
def test_it_accepts_plain_slugs(slug: str) -> None:
    validate_organization_slug(slug)
    validate_repository_slug(slug)
