"""The OpenAPI schema is valid, and the API keeps to it under property-based testing.

schemathesis generates requests for every operation from the schema and sends them in-process
to the Django WSGI application, logged in as organization A's owner. Path parameters come
from organization A's real objects, from organization B's, or are made up; every example runs
in a rolled-back transaction, so each starts from the same two tenants, and organization B is
compared with its starting state inside that transaction, before the rollback.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from publishing.models import TrustedPublisher
from publishing.services import publisher_create
from registry.models import File
from registry.models import Release
from registry.models import Repository
from registry.services import repository_create
from tests.world import World
from tests.world import random_source_ip
from webhooks.models import Delivery
from webhooks.models import Webhook
from webhooks.services import webhook_create
from webhooks.services import webhook_test

pytestmark = pytest.mark.django_db

# Examples per operation: under a minute for the whole schema, both modes together.
MAX_EXAMPLES = 15
# A source address of its own, so no other test's failed-key counter can throttle this one.
ENVIRON = {"REMOTE_ADDR": random_source_ip()}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_it_generates_a_schema_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/orgs/{org}/repos/{repo}/files/" in text
    assert "/api/v1/orgs/{org}/repos/{repo}/publishers/{publisher_id}/" in text
    assert "bearer" in text


def test_it_serves_the_reference_page_without_a_cdn() -> None:
    response = Client().get("/api/v1/docs/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn." not in page


def test_it_serves_the_schema_as_json_to_anyone() -> None:
    response = Client(HTTP_AUTHORIZATION="Bearer whk_nonsense").get(
        "/api/v1/schema/", {"format": "json"}
    )
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Wheelhouse API"


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[Any]:
    """Django's WSGI app, without closing the test's connection after each request (which
    would end the transaction pytest-django rolls back), as Django's own test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _identifiers(world: World, org: str, path: str) -> dict[str, str]:
    # {email} names a member under members/ and an invitee under invitations/.
    invitations = "/invitations/" in path
    if org == "a":
        return {
            "org": world.org_a.slug,
            "repo": _repository_of_kind(world, path),
            "project": "acme-lib",
            "version": "1.0",
            "filename": world.file.filename,
            "email": world.invitation.email if invitations else world.extra_membership.user.email,
            "public_id": ApiKey.objects.get(organization=world.org_a, name="upload").public_id,
            "publisher_id": str(TrustedPublisher.objects.get(repository=world.repo_a).pk),
            "webhook_id": str(Webhook.objects.get(organization=world.org_a).pk),
            "delivery_id": str(Delivery.objects.get(webhook__organization=world.org_a).pk),
        }
    file_b = File.objects.get(repository=world.repo_b)
    invitation_b = Invitation.objects.get(organization=world.org_b)
    return {
        "org": world.org_b.slug,
        "repo": world.repo_b.slug,
        "project": world.sentinel_b,
        "version": "1.0",
        "filename": file_b.filename,
        "email": invitation_b.email if invitations else world.users["b_member"].email,
        "public_id": ApiKey.objects.get(organization=world.org_b).public_id,
        "publisher_id": str(TrustedPublisher.objects.get(repository=world.repo_b).pk),
        "webhook_id": str(Webhook.objects.get(organization=world.org_b).pk),
        "delivery_id": str(Delivery.objects.get(webhook__organization=world.org_b).pk),
    }


# Organization A's repositories of the other kinds: a proxy's cache and a virtual
# repository's overrides exist only on those.
KIND_PATHS = {"/cache/": "mirror", "/overrides/": "combined"}


def _repository_of_kind(world: World, path: str) -> str:
    for part, slug in KIND_PATHS.items():
        if part in path:
            return slug
    return world.repo_a.slug


def _other_kinds(world: World) -> None:
    owner = world.users["owner"]
    repository_create(organization=world.org_a, actor=owner, slug="mirror", kind="proxy")
    repository_create(
        organization=world.org_a, actor=owner, slug="combined", kind="virtual",
        members=[world.repo_a.slug, "mirror"],
    )  # fmt: skip
    # A trusted publisher in each organization, for the publisher endpoints to find.
    for repository, actor in ((world.repo_a, owner), (world.repo_b, world.users["b_member"])):
        publisher_create(
            repository=repository, actor=actor, kind="github",
            ci_repository="acme/app", workflow="release.yml",
        )  # fmt: skip
        # A webhook with one delivery in each (never sent: nothing here commits).
        hook = webhook_create(
            actor=actor, organization=repository.organization,
            url="http://127.0.0.1:9/hook", events=["file.published"],
        )  # fmt: skip
        webhook_test(actor=actor, webhook=hook.webhook)


def _organization_b(world: World) -> list[Any]:
    org = world.org_b
    return [
        list(org.__class__.objects.filter(pk=org.pk).values()),
        list(Membership.objects.filter(organization=org).order_by("pk").values()),
        list(ApiKey.objects.filter(organization=org).order_by("pk").values()),
        list(Invitation.objects.filter(organization=org).order_by("pk").values()),
        list(Repository.objects.filter(organization=org).order_by("pk").values()),
        list(Release.objects.filter(project__repository__organization=org).values()),
        list(File.objects.filter(repository__organization=org).order_by("pk").values()),
        AuditEvent.objects.filter(organization=org).count(),
        list(TrustedPublisher.objects.filter(repository__organization=org).values()),
        list(Webhook.objects.filter(organization=org).order_by("pk").values()),
        list(Delivery.objects.filter(webhook__organization=org).order_by("pk").values()),
    ]


def _owner_session(world: World) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and cookies of a logged-in owner, with a CSRF token as a browser sends it."""
    client = Client()
    client.force_login(world.users["owner"])
    csrf = secrets.token_hex(16)
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    return {"X-CSRFToken": csrf}, cookies


# Operations that never succeed for a logged-in owner, and why: a browser session may never
# upload (the REST upload with a key is tested in tests/api/test_repositories.py); it answers
# the same refusal at any real repository URL, so it tells nothing about organization B.
REFUSED_TO_SESSIONS = {"POST /api/v1/orgs/{org}/repos/{repo}/files/": (403, "upload_refused")}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_it_keeps_to_its_schema_and_its_tenant_under_generated_requests(
    world: World, wsgi_in_test_transaction: Any, mode: GenerationMode
) -> None:
    """Valid requests (positive) must get answers the schema describes, and organization B's
    objects must answer 404; invalid ones (negative) must never cause a server error, and are
    refused in the API's error shape. No request may change organization B."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_in_test_transaction)
    session = _owner_session(world)
    _other_kinds(world)
    Invitation.objects.create(
        organization=world.org_b, email="invitee@globex.test", role="member",
        token_hash="0" * 64, expires_at=world.invitation.expires_at,
    )  # fmt: skip
    b_before = _organization_b(world)
    ran: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        strategies = [operation.as_strategy(generation_mode=mode)]
        if names:
            for tenant in ("a", "b"):
                identifiers = _identifiers(world, tenant, operation.path)
                fixed = {k: v for k, v in identifiers.items() if k in names}
                strategies.append(
                    operation.as_strategy(generation_mode=mode, path_parameters=fixed).map(
                        lambda case, tenant=tenant: (tenant, case)
                    )
                )
        strategies[0] = strategies[0].map(lambda case: ("random", case))
        _exercise(operation, st.one_of(strategies), session, ran, mode, world, b_before)
    if mode == GenerationMode.NEGATIVE:
        return
    # The run got past the guards: every operation succeeded at least once (within
    # MAX_EXAMPLES, with real identifiers), except those a session may never use.
    succeeded = {label for label, statuses in ran.items() if any(c < 300 for c in statuses)}
    never = {label: sorted(ran[label]) for label in set(ran) - succeeded}
    assert set(never) == set(REFUSED_TO_SESSIONS), never


def _exercise(
    operation: Any,
    strategy: Any,
    session: Any,
    ran: dict[str, set[int]],
    mode: GenerationMode,
    world: World,
    b_before: list[Any],
) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    positive = mode == GenerationMode.POSITIVE

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=strategy)
    def run(drawn: tuple[str, Any]) -> None:
        tenant, case = drawn
        with transaction.atomic():
            headers, cookies = session
            # The schema's bearer scheme makes schemathesis invent keys; act as the owner.
            (case.headers or {}).pop("Authorization", None)
            response = case.call(headers=headers, cookies=cookies, environ_base=ENVIRON)
            case.validate_response(response, checks=CHECKS if positive else [not_a_server_error])
            # Read before the rollback undoes it: what the request would have committed.
            b_after = _organization_b(world)
            transaction.set_rollback(True)
        ran.setdefault(label, set()).add(response.status_code)
        assert b_after == b_before, (label, tenant, response.status_code, response.text)
        if response.status_code >= 400:
            # Every refusal, of valid or invalid requests, in the one error shape.
            body = json.loads(response.text)
            assert list(body) == ["error"], (label, response.text)
            error = body["error"]
            assert sorted(error) == ["code", "fields", "message"], (label, response.text)
            assert error["code"], (label, response.text)
            assert error["message"], (label, response.text)
        if label in REFUSED_TO_SESSIONS and tenant != "random":
            status, code = REFUSED_TO_SESSIONS[label]
            assert response.status_code == status, (label, response.status_code)
            assert json.loads(response.text)["error"]["code"] == code
        elif tenant == "b" and positive:
            # Organization B's objects answer exactly like missing ones.
            assert response.status_code == 404, (label, response.status_code, response.text)
            assert json.loads(response.text)["error"]["code"] == "not_found"
        elif tenant == "b":
            # Invalid requests about organization B's objects are refused too, never served.
            assert response.status_code >= 400, (label, response.status_code, response.text)

    run()
