"""Trusted publishing in-process: a local issuer the registry trusts as GitHub's, and a
GitLab-style one, each on its own loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from publishing.oidc import forget_key_sets
from tests.oidc import Issuer


@pytest.fixture(autouse=True)
def no_remembered_key_sets() -> Iterator[None]:
    """The registry remembers each issuer's keys by its URL, in the process. Issuers here
    live on ephemeral loopback ports, and a later test's issuer can get an earlier one's
    port: it must never be checked against the keys another test's issuer published."""
    forget_key_sets()
    yield
    forget_key_sets()


@pytest.fixture
def github(settings: Any) -> Iterator[Issuer]:
    """An issuer the registry takes for GitHub Actions' (OIDC_GITHUB_ISSUER)."""
    with Issuer() as issuer:
        settings.OIDC_GITHUB_ISSUER = issuer.url
        settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = True
        # Every unknown key id may refetch the keys at once (the rotation test).
        settings.OIDC_JWKS_MIN_REFRESH = 0
        yield issuer


@pytest.fixture
def other_issuer(settings: Any) -> Iterator[Issuer]:
    with Issuer() as issuer:
        settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = True
        yield issuer


def mint(token: str, client: Client | None = None) -> Any:
    """POST the token to /_/oidc/mint-token as uv does."""
    return (client or Client()).post(
        "/_/oidc/mint-token", json.dumps({"token": token}), content_type="application/json"
    )


def refusal(response: Any) -> tuple[str, str]:
    """(code, description) of a refused mint, checking PyPI's shape on the way."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["message"] == "Token request failed"
    [error] = body["errors"]
    return error["code"], error["description"]
