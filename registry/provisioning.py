"""One call that sets up a tenant end to end: used by `provision` and by `serve`'s demo."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import KeyScope
from accounts.services import api_key_create
from accounts.services import organization_get_or_create
from accounts.services import user_get_or_create
from registry.links import repository_urls
from registry.links import url_with_credentials
from registry.services import repository_get_or_create


@transaction.atomic
def tenant_provision(
    *,
    org_slug: str,
    repo_slug: str,
    email: str,
    base_url: str,
    org_name: str = "",
    key_name: str = "provisioned",
    scope: str = KeyScope.UPLOAD,
) -> dict[str, Any]:
    """Ensure the organization, repository and user exist, and mint a new API key.

    Safe to run again: existing objects are reused, and each run returns a fresh key. The
    index URL printed with credentials in it carries a read-only key, never an upload key:
    a URL gets pasted into browsers, and a browser keeps what it was given.
    """
    user = user_get_or_create(email=email)
    organization = organization_get_or_create(slug=org_slug, name=org_name or org_slug, owner=user)
    repository = repository_get_or_create(organization=organization, slug=repo_slug)
    new_key = api_key_create(organization=organization, name=key_name, scope=scope, created_by=user)
    install_key = new_key
    if new_key.api_key.can_upload:
        install_key = api_key_create(
            organization=organization,
            name=f"{key_name} (install)",
            scope=KeyScope.READ,
            created_by=user,
        )
    urls = repository_urls(repository, base_url=base_url)
    return {
        "organization": organization.slug,
        "repository": repository.slug,
        "user": user.email,
        "api_key": {
            "name": new_key.api_key.name,
            "public_id": new_key.api_key.public_id,
            "scope": new_key.api_key.scope,
            "token": new_key.token,
        },
        **urls,
        "install_key": {"public_id": install_key.api_key.public_id, "token": install_key.token},
        "pip_index_url": url_with_credentials(urls["index_url"], install_key.token),
    }
