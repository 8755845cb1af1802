"""Every URL the project serves, for every kind of actor, against one policy table.

The routes come from the URL resolver, so a new URL without a row in POLICY fails
`test_it_has_a_policy_row_for_every_url`, and every row is exercised by every actor.
Expected statuses are written out here from the product rules (roles, key scopes), not
computed with the code under test.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern
from django.urls import URLResolver
from django.urls import get_resolver
from django.urls import reverse
from django.urls.exceptions import NoReverseMatch
from django.utils import timezone

from accounts.models import ApiKey
from publishing.models import TrustedPublisher
from publishing.services import publisher_create
from registry.models import File
from registry.models import Project
from registry.models import Release
from registry.models import RepositorySlugAlias
from registry.services import repository_create
from tests.world import INVITATION_TOKEN
from tests.world import World
from tests.world import random_source_ip
from webhooks.models import Delivery
from webhooks.models import Webhook
from webhooks.services import webhook_create
from webhooks.services import webhook_test

pytestmark = pytest.mark.django_db

# What each role of organization A may do (the product's role table, restated).
ROLE_ALLOWED = {
    "owner": {"read", "upload", "yank", "delete", "manage_keys", "manage_repositories",
              "manage_members", "manage_settings", "view_audit", "manage_owners",
              "delete_organization", "manage_webhooks"},
    "admin": {"read", "upload", "yank", "delete", "manage_keys", "manage_repositories",
              "manage_members", "manage_settings", "view_audit", "manage_webhooks"},
    "member": {"read", "upload"},
    "reader": {"read"},
}  # fmt: skip
# Usable keys of organization A and what they may do on repository A/main.
KEY_ALLOWED = {
    "key_read": {"read"},
    "key_upload": {"read", "upload"},
    "key_personal": {"read", "upload"},  # a member's personal upload key
    "key_personal_demoted": {"read"},  # upload key of a member since demoted to reader
    # Upload keys with one management scope each: it allows that action and no other.
    "key_repositories": {"read", "upload", "manage_repositories"},
    "key_keys": {"read", "upload", "manage_keys"},
    "key_members": {"read", "upload", "manage_members"},
    "key_yank": {"read", "upload", "yank"},
    "key_delete": {"read", "upload", "delete"},
    "key_webhooks": {"read", "upload", "manage_webhooks"},
    # An admin's personal key with every management scope: what an admin may, of them. No
    # scope covers the organization's settings, its deletion or the audit log.
    "key_personal_admin": {"read", "upload", "manage_repositories", "manage_keys",
                           "manage_members", "yank", "delete", "manage_webhooks"},
    # The same scopes, but its user is a member now: the role bounds it at once.
    "key_personal_demoted_admin": {"read", "upload"},
}  # fmt: skip
# The management scopes, by the action each allows (the product's scope table, restated).
SCOPE_OF_ACTION = {
    "read": "read", "upload": "upload", "manage_repositories": "manage:repositories",
    "manage_keys": "manage:keys", "manage_members": "manage:members", "yank": "yank",
    "delete": "delete", "manage_webhooks": "manage:webhooks",
}  # fmt: skip
# Keys refused whatever they ask for.
KEY_REFUSED = {
    "key_expired": 401,
    "key_revoked": 401,
    "key_personal_left": 401,  # its user left the organization
    "key_network": 403,  # used from outside its allowed networks
    "key_limited": 404,  # limited to repository A/other
    "key_no_repos": 404,  # limited to a repository since deleted: covers nothing, not all
    "key_b": 404,  # organization B's key
}
SESSION_ACTORS = ("owner", "admin", "member", "reader", "b_member")
KEY_ACTORS = (*KEY_ALLOWED, *KEY_REFUSED)
ACTORS = ("anonymous", *SESSION_ACTORS, *KEY_ACTORS)


@dataclass(frozen=True)
class Row:
    """How one URL must answer. kind: public | login | org | repo | api | badge (a private
    project badge: organization A's people only; everyone else finds nothing).

    POLICY keys are URL names, or "<name> <METHOD>" for more methods on one URL (or "<name>
    <kind>" for the same URL on a proxy or virtual repository)."""

    kind: str
    method: str = "GET"
    action: str = "read"
    ok: int = 200
    # What an organization A member whose role lacks `action` gets.
    denied: int = 403
    kwargs: Callable[[World], dict[str, Any]] = lambda w: {}
    data: dict[str, Any] = field(default_factory=dict)
    # api rows: whether the URL names organization A (else it is about the caller), and
    # repository A/main (then a key limited to A/other finds nothing).
    org: bool = True
    repo: bool = False
    # api rows: changes only a person (a session) may make; usable keys get 403.
    people_only: bool = False
    # api rows: what a key needs, where it differs from what a person's role needs.
    key_action: str = ""
    # api rows: what a usable key whose scope lacks `action` gets.
    key_denied: int = 403
    # api rows: statuses that differ from the rules above, by actor, spelled out.
    overrides: dict[str, int] = field(default_factory=dict)
    # Text the `ok` answer must carry: where `ok` is a refusal, it shows which check made it.
    ok_says: str = ""
    # repo rows: people with a session read too (the project page's download links).
    session_reads: bool = False


def _org(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"org": w.org_a.slug, **{k: f(w) for k, f in extra.items()}}


def _repo(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _org(repo=lambda w: w.repo_a.slug, **extra)


def _project(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _repo(project=lambda w: w.file.release.project.normalized_name, **extra)


# Organization A's proxy and virtual repositories (made by the `kinds` fixture below).
PROXY, VIRTUAL = "mirror", "combined"


def _proxy(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _org(repo=lambda w: PROXY, **extra)


def _virtual(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _org(repo=lambda w: VIRTUAL, **extra)


# A former slug of repository A/main (a rename within SLUG_ALIAS_DAYS, made by `kinds`): it
# answers everyone exactly as A/main does, except people on pages, who are redirected.
FORMER = "formerly-main"


def _former(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _org(repo=lambda w: FORMER, **extra)


@pytest.fixture(autouse=True)
def kinds(world: World) -> None:
    owner = world.users["owner"]
    repository_create(organization=world.org_a, actor=owner, slug=PROXY, kind="proxy")
    repository_create(
        organization=world.org_a, actor=owner, slug=VIRTUAL, kind="virtual",
        members=[world.repo_a.slug, PROXY],
    )  # fmt: skip
    publisher_create(
        repository=world.repo_a, actor=owner, kind="github",
        ci_repository="acme/app", workflow="release.yml",
    )  # fmt: skip
    RepositorySlugAlias.objects.create(
        organization=world.org_a, repository=world.repo_a, slug=FORMER,
        expires_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    # A webhook with one delivery (never sent: the test's transaction never commits).
    hook = webhook_create(
        actor=owner, organization=world.org_a, url="http://127.0.0.1:9/hook",
        events=["file.published"],
    )  # fmt: skip
    webhook_test(actor=owner, webhook=hook.webhook)


def _webhook_id(w: World) -> int:
    return Webhook.objects.get(organization=w.org_a).pk


def _delivery_id(w: World) -> int:
    return Delivery.objects.get(webhook__organization=w.org_a).pk


_HOOK = _org(webhook_id=_webhook_id)


def _publisher_id(w: World) -> int:
    return TrustedPublisher.objects.get(repository=w.repo_a).pk


_NEW_PUBLISHER = {"kind": "github", "ci_repository": "acme/app", "workflow": "other.yml"}


def _upload_key_id(w: World) -> str:
    return ApiKey.objects.get(organization=w.org_a, name="upload").public_id


def _api_repo(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _repo(**extra)


def _release(**extra: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return _repo(project=lambda w: "acme-lib", version=lambda w: "1.0", **extra)


def _file(w: World) -> dict[str, Any]:
    return _repo(filename=lambda w: w.file.filename)(w)


_EXTRA = _org(email=lambda w: w.extra_membership.user.email)
_KEY = _org(public_id=_upload_key_id)
# A key sees only itself among keys; the upload key finds itself, then may not change itself.
_KEY_SELF = {"key_upload": 200}
_KEY_SELF_WRITE = {"key_upload": 403}
# Uploads take a key, never a session: a request with session cookies is a browser's, and
# browsers are refused before anything else (security review H1).
_SESSION_UPLOAD = dict.fromkeys(SESSION_ACTORS, 403)
# Keys limited to some repositories, which may not read who the members are.
LIMITED_KEYS = ("key_limited", "key_no_repos")
_LIMITED_NO_MEMBERS = dict.fromkeys(LIMITED_KEYS, 403)
# The legacy upload's answer to a form without its fields, as twine shows it.
_EMPTY_FORM = "Unknown or missing ':action': use 'file_upload'."


POLICY: dict[str, Row] = {
    "healthz": Row("public"),
    # Trusted publishing at the host root: the exchange takes a CI token, never a key; a
    # request without one is refused as PyPI refuses it. Other /_/oidc/ URLs are not served.
    "oidc-audience": Row("public"),
    "oidc-mint-token": Row("public", "POST", ok=422),
    "oidc-not-supported": Row("public", ok=404, kwargs=lambda w: {"rest": "github/mint-token"}),
    "home": Row("public", ok=302),
    "signup": Row("public"),
    "signup-sent": Row("public"),
    # A sign-up link that is not (or no longer) valid: gone, for everyone alike.
    "signup-activate": Row("public", ok=410, kwargs=lambda w: {"uidb64": "MQ", "token": "x-y"}),
    "login": Row("public"),
    "logout": Row("public", method="POST", ok=302),
    "password_reset": Row("public"),
    "password_reset_done": Row("public"),
    "password_reset_confirm": Row("public", kwargs=lambda w: {"uidb64": "MQ", "token": "x-y"}),
    "password_reset_complete": Row("public"),
    "password_change": Row("login"),
    "password_change_done": Row("login"),
    # Whoever holds the link sees what it is for (then logs in, or signs up, to accept).
    "invitation-accept": Row("public", kwargs=lambda w: {"token": INVITATION_TOKEN}),
    "org-list": Row("login"),
    "org-create": Row("login"),
    "org-detail": Row("org", kwargs=_org()),
    "org-members": Row("org", kwargs=_org()),
    "org-keys": Row("org", kwargs=_org()),
    # With no secret waiting in the session: back to the list, saying it was shown once.
    "key-created": Row("org", ok=302, kwargs=_org()),
    "org-settings": Row("org", action="manage_settings", kwargs=_org()),
    "org-delete": Row("org", action="delete_organization", kwargs=_org()),
    "org-audit": Row("org", action="view_audit", kwargs=_org()),
    "org-audit-csv": Row("org", action="view_audit", kwargs=_org()),
    # Webhooks send the organization's events out: owners and admins.
    "org-webhooks": Row("org", action="manage_webhooks", kwargs=_org()),
    # With no secret waiting in the session: back to the list, saying it was shown once.
    "webhook-created": Row("org", action="manage_webhooks", ok=302, kwargs=_org()),
    "webhook-detail": Row("org", action="manage_webhooks", kwargs=_HOOK),
    "webhook-test": Row("org", "POST", "manage_webhooks", ok=302, kwargs=_HOOK),
    "webhook-delete": Row("org", "POST", "manage_webhooks", ok=302, kwargs=_HOOK),
    "webhook-redeliver": Row(
        "org", "POST", "manage_webhooks", ok=302,
        kwargs=_org(webhook_id=_webhook_id, delivery_id=_delivery_id),
    ),
    "member-role": Row(
        "org", "POST", "manage_members", ok=302, data={"role": "reader"},
        kwargs=_org(membership_id=lambda w: w.extra_membership.pk),
    ),
    "member-remove": Row(
        "org", "POST", "manage_members", ok=302,
        kwargs=_org(membership_id=lambda w: w.extra_membership.pk),
    ),
    "invitation-revoke": Row(
        "org", "POST", "manage_members", ok=302,
        kwargs=_org(invitation_id=lambda w: w.invitation.pk),
    ),
    # Members cannot even see organization keys: a key they may not manage is not found.
    "key-revoke": Row(
        "org", "POST", "manage_keys", ok=302, denied=404, kwargs=_org(public_id=_upload_key_id)
    ),
    # Rotating redirects to the one page that shows the new secret (post, redirect, get).
    "key-rotate": Row(
        "org", "POST", "manage_keys", ok=302, denied=404, kwargs=_org(public_id=_upload_key_id)
    ),
    "repo-create": Row("org", action="manage_repositories", kwargs=_org()),
    "repo-edit": Row("org", action="manage_repositories", kwargs=_repo()),
    "repo-delete": Row("org", action="manage_repositories", kwargs=_repo()),
    "repo-purge": Row("org", "POST", "manage_repositories", ok=302, kwargs=_proxy()),
    "repo-purge-project": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_proxy(project=lambda w: "requests")
    ),
    "repo-override-add": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_virtual(),
        data={"name": "acme-lib", "reason": "a patched fork"},
    ),
    "repo-override-remove": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_virtual(project=lambda w: "acme-lib")
    ),
    "repo-detail": Row("org", kwargs=_repo()),
    "repo-detail proxy": Row("org", kwargs=_proxy()),
    "repo-detail virtual": Row("org", kwargs=_virtual()),
    "repo-connect proxy": Row("org", kwargs=_proxy()),
    "repo-connect virtual": Row("org", kwargs=_virtual()),
    "publisher-add": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_repo(),
        data={f"publisher-{name}": value for name, value in _NEW_PUBLISHER.items()},
    ),
    "publisher-remove": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_repo(publisher_id=_publisher_id)
    ),
    "repo-edit proxy": Row("org", action="manage_repositories", kwargs=_proxy()),
    "repo-edit virtual": Row("org", action="manage_repositories", kwargs=_virtual()),
    "repo-connect": Row("org", kwargs=_repo()),
    "project-detail": Row("org", kwargs=_project()),
    "project-downloads": Row("org", kwargs=_project()),
    "project-downloads-csv": Row("org", kwargs=_project()),
    "repo-retention": Row("org", kwargs=_repo()),
    # Setting a policy needs delete too; every role with manage_repositories has it.
    "repo-retention POST": Row(
        "org", "POST", "manage_repositories", ok=302, kwargs=_repo(),
        data={"keep_finals": "3", "protect_downloaded_days": "30"},
    ),
    "org-search": Row("org", kwargs=_org()),
    "project-status": Row(
        "org", "POST", "yank", ok=302, data={"status": "archived"}, kwargs=_project()
    ),
    "project-badge": Row("badge", kwargs=_project()),
    "project-badge-set": Row(
        "org", "POST", "manage_repositories", ok=302, data={"public": "on"}, kwargs=_project()
    ),
    "release-detail": Row("org", kwargs=_release()),
    "release-yank": Row(
        "org", "POST", "yank", ok=302, data={"reason": "broken"}, kwargs=_release()
    ),
    "release-unyank": Row("org", "POST", "yank", ok=302, kwargs=_release()),
    "release-delete": Row(
        "org", "POST", "delete", ok=302, data={"confirm": "1.0"}, kwargs=_release()
    ),
    "file-delete": Row(
        "org", "POST", "delete", ok=302, kwargs=_release(file_id=lambda w: w.file.pk)
    ),
    "simple-index": Row("repo", kwargs=_repo()),
    "simple-index former": Row("repo", kwargs=_former()),
    "file former": Row(
        "repo",
        kwargs=_former(sha256=lambda w: w.file.sha256, filename=lambda w: w.file.filename),
        session_reads=True,
    ),
    "upload former": Row("repo", "POST", "upload", ok=400, kwargs=_former(), ok_says=_EMPTY_FORM),
    "repo-detail former": Row("org", ok=302, kwargs=_former()),
    "api-files former": Row("api", repo=True, kwargs=_former()),
    "simple-project": Row("repo", kwargs=_repo(project=lambda w: "acme-lib")),
    "file": Row(
        "repo",
        kwargs=_repo(sha256=lambda w: w.file.sha256, filename=lambda w: w.file.filename),
        session_reads=True,
    ),
    "project-json": Row("repo", kwargs=_repo(project=lambda w: "acme-lib")),
    "release-json": Row(
        "repo", kwargs=_repo(project=lambda w: "acme-lib", version=lambda w: w.file.release.version)
    ),
    "upload-simple-project": Row("repo", kwargs=_repo(project=lambda w: "acme-lib")),
    # The index of a proxy (its root lists what it fetched: the upstream is never asked) and
    # of a virtual repository (organization A's hosted project through it): the same keys
    # read them, no other; an upload gets past access to the kind's own refusal.
    "simple-index proxy": Row("repo", kwargs=_proxy()),
    "simple-index virtual": Row("repo", kwargs=_virtual()),
    "simple-project virtual": Row("repo", kwargs=_virtual(project=lambda w: "acme-lib")),
    "file virtual": Row(
        "repo",
        kwargs=_virtual(sha256=lambda w: w.file.sha256, filename=lambda w: w.file.filename),
        session_reads=True,
    ),
    "project-json virtual": Row("repo", kwargs=_virtual(project=lambda w: "acme-lib")),
    "upload proxy": Row(
        "repo", "POST", "upload", ok=400, kwargs=_proxy(), ok_says="takes no uploads"
    ),
    "upload virtual": Row(
        "repo", "POST", "upload", ok=400, kwargs=_virtual(), ok_says="without an upload target"
    ),
    # An allowed key gets past every access check to form validation: an empty upload is a
    # 400 that names the missing form field (no access check answers 400).
    "upload": Row("repo", "POST", "upload", ok=400, kwargs=_repo(), ok_says=_EMPTY_FORM),
    "upload-noslash": Row(
        "repo", "POST", "upload", ok=400, kwargs=_repo(), ok_says=_EMPTY_FORM
    ),
    # The REST API: keys or sessions, JSON errors, 404 for anything outside what one may see.
    "api-schema": Row("public"),
    "api-docs": Row("public"),
    "api-not-found": Row("public", ok=404, kwargs=lambda w: {"rest": "nope"}),
    "api-user": Row("api", org=False),
    "api-orgs": Row("api", org=False),
    "api-orgs POST": Row(
        "api", "POST", org=False, people_only=True, ok=201, data={"slug": "newco", "name": "N"}
    ),
    "api-org": Row("api", kwargs=_org()),
    "api-org PATCH": Row(
        "api", "PATCH", "manage_settings", people_only=True, kwargs=_org(), data={"name": "A2"}
    ),
    "api-org DELETE": Row(
        "api", "DELETE", "delete_organization", ok=204, people_only=True, kwargs=_org()
    ),
    "api-usage": Row("api", kwargs=_org()),
    "api-org-downloads": Row("api", kwargs=_org()),
    "api-project-downloads": Row("api", repo=True, kwargs=_project()),
    "api-retention": Row("api", repo=True, kwargs=_repo()),
    # Needs manage:repositories and delete: a key with only the first is refused too.
    "api-retention PUT": Row(
        "api", "PUT", "manage_repositories", repo=True, kwargs=_repo(),
        data={"enabled": False, "keep_finals": 3, "prerelease_days": None,
              "protect_downloaded_days": 30},
        overrides={"key_repositories": 403},
    ),
    "api-retention-dry-run": Row("api", repo=True, kwargs=_repo()),
    "api-audit": Row("api", action="view_audit", kwargs=_org()),
    "api-members": Row("api", kwargs=_org(), overrides=_LIMITED_NO_MEMBERS),
    "api-member": Row("api", kwargs=_EXTRA, overrides=_LIMITED_NO_MEMBERS),
    "api-member PATCH": Row(
        "api", "PATCH", "manage_members", kwargs=_EXTRA, data={"role": "reader"}
    ),
    "api-member DELETE": Row(
        "api", "DELETE", "manage_members", ok=204, kwargs=_EXTRA
    ),
    "api-invitations": Row("api", action="manage_members", kwargs=_org()),
    "api-invitations POST": Row(
        "api", "POST", "manage_members", ok=201, kwargs=_org(),
        data={"email": "new@acme.test", "role": "member"},
    ),
    "api-invitation DELETE": Row(
        "api", "DELETE", "manage_members", ok=204,
        kwargs=_org(email=lambda w: w.invitation.email),
    ),
    "api-keys": Row("api", kwargs=_org()),
    # Any member may make a personal key within their role; a key needs manage:keys, and an
    # organization key has no user to make a personal key for.
    "api-keys POST": Row(
        "api", "POST", ok=201, key_action="manage_keys", kwargs=_org(),
        data={"name": "mine", "personal": True, "scope": "read"}, overrides={"key_keys": 400},
    ),
    "api-keys POST organization-key": Row(
        "api", "POST", "manage_keys", ok=201, kwargs=_org(),
        data={"name": "ci", "scopes": ["read", "yank"]},
        # Each of these lacks the yank scope it would grant: never more than it has.
        overrides={"key_keys": 403},
    ),
    "api-key": Row(
        "api", action="manage_keys", denied=404, key_denied=404, overrides=_KEY_SELF, kwargs=_KEY
    ),
    "api-key DELETE": Row(
        "api", "DELETE", "manage_keys", denied=404, key_denied=404, overrides=_KEY_SELF_WRITE,
        kwargs=_KEY,
    ),
    "api-key-rotate": Row(
        "api", "POST", "manage_keys", ok=201, denied=404, key_denied=404,
        overrides=_KEY_SELF_WRITE, kwargs=_KEY,
    ),
    "api-repos": Row("api", kwargs=_org()),
    "api-repos POST": Row(
        "api", "POST", "manage_repositories", ok=201, kwargs=_org(),
        data={"slug": "newrepo"},
    ),
    "api-quota": Row("api", kwargs=_org()),
    "api-webhooks": Row("api", action="manage_webhooks", kwargs=_org()),
    "api-webhooks POST": Row(
        "api", "POST", "manage_webhooks", ok=201, kwargs=_org(),
        data={"url": "http://127.0.0.1:9/other", "events": ["release.yanked"]},
    ),
    "api-webhook": Row("api", action="manage_webhooks", kwargs=_HOOK),
    "api-webhook PATCH": Row(
        "api", "PATCH", "manage_webhooks", kwargs=_HOOK, data={"active": False}
    ),
    "api-webhook DELETE": Row("api", "DELETE", "manage_webhooks", ok=204, kwargs=_HOOK),
    "api-webhook-test POST": Row("api", "POST", "manage_webhooks", ok=202, kwargs=_HOOK),
    "api-webhook-deliveries": Row("api", action="manage_webhooks", kwargs=_HOOK),
    "api-webhook-redeliver POST": Row(
        "api", "POST", "manage_webhooks", ok=202,
        kwargs=_org(webhook_id=_webhook_id, delivery_id=_delivery_id),
    ),
    "api-repo": Row("api", repo=True, kwargs=_repo()),
    "api-repo PATCH": Row(
        "api", "PATCH", "manage_repositories", repo=True, kwargs=_repo(),
        data={"description": "x", "allow_file_deletion": False},
    ),
    "api-repo DELETE": Row(
        "api", "DELETE", "manage_repositories", ok=204, repo=True,
        kwargs=_repo(),
    ),
    "api-cache": Row("api", repo=True, kwargs=_proxy()),
    "api-cache DELETE": Row(
        "api", "DELETE", "manage_repositories", repo=True, kwargs=_proxy()
    ),
    "api-cache-project DELETE": Row(
        "api", "DELETE", "manage_repositories", repo=True,
        kwargs=_proxy(project=lambda w: "requests"),
    ),
    "api-overrides": Row("api", repo=True, kwargs=_virtual()),
    "api-override PUT": Row(
        "api", "PUT", "manage_repositories", repo=True,
        kwargs=_virtual(project=lambda w: "acme-lib"), data={"reason": "a patched fork"},
    ),
    "api-override DELETE": Row(
        "api", "DELETE", "manage_repositories", ok=204, repo=True,
        kwargs=_virtual(project=lambda w: "acme-lib"),
    ),
    # Which CI jobs may publish is configuration: owners and admins only.
    "api-publishers": Row("api", action="manage_repositories", repo=True, kwargs=_repo()),
    "api-publishers POST": Row(
        "api", "POST", "manage_repositories", ok=201, repo=True, kwargs=_repo(),
        data=_NEW_PUBLISHER,
    ),
    "api-publisher": Row(
        "api", action="manage_repositories", repo=True, kwargs=_repo(publisher_id=_publisher_id)
    ),
    "api-publisher DELETE": Row(
        "api", "DELETE", "manage_repositories", ok=204, repo=True,
        kwargs=_repo(publisher_id=_publisher_id),
    ),
    "api-projects": Row("api", repo=True, kwargs=_repo()),
    "api-project": Row("api", repo=True, kwargs=_repo(project=lambda w: "Acme_Lib")),
    "api-project-status PUT": Row(
        "api", "PUT", "yank", repo=True, kwargs=_repo(project=lambda w: "acme-lib"),
        data={"status": "archived", "reason": "moved"},
    ),
    "api-releases": Row("api", repo=True, kwargs=_repo(project=lambda w: "acme-lib")),
    "api-release": Row("api", repo=True, kwargs=_release()),
    "api-release DELETE": Row("api", "DELETE", "delete", ok=204, repo=True, kwargs=_release()),
    "api-release-yank": Row(
        "api", "POST", "yank", repo=True, kwargs=_release(), data={"reason": "broken"}
    ),
    "api-release-unyank": Row("api", "POST", "yank", repo=True, kwargs=_release()),
    "api-files": Row("api", repo=True, kwargs=_repo()),
    # An allowed key gets as far as the form: a body without a file is a 400 that says so.
    "api-files POST": Row(
        "api", "POST", "upload", ok=400, repo=True, overrides=_SESSION_UPLOAD, kwargs=_repo(),
        ok_says='"message":"Upload payload does not have a file."',
    ),
    "api-file": Row("api", repo=True, kwargs=_file),
    "api-file DELETE": Row("api", "DELETE", "delete", ok=204, repo=True, kwargs=_file),
}  # fmt: skip
# Django's admin: staff only. None of the actors is staff, so all are sent to its log-in.
ADMIN_NAMESPACE = "admin"


def expected_api_status(row: Row, actor: str) -> int:
    if actor in row.overrides:
        return row.overrides[actor]
    if actor == "anonymous":
        return 401
    if actor in KEY_REFUSED and actor not in {*LIMITED_KEYS, "key_b"}:
        return KEY_REFUSED[actor]
    is_key = actor in KEY_ACTORS
    if not row.org:
        return 403 if is_key and row.people_only else row.ok
    if actor in B_ACTORS:
        return 404
    if actor in LIMITED_KEYS:
        if row.repo:
            return 404
        actor = "key_upload"  # outside its repository it is an ordinary upload key
    if not is_key:
        return row.ok if row.action in ROLE_ALLOWED[actor] else row.denied
    if row.people_only:
        return 403
    action = row.key_action or row.action
    return row.ok if action in KEY_ALLOWED[actor] else row.key_denied


def expected_status(row: Row, actor: str) -> int:
    if row.kind == "public":
        return row.ok
    if row.kind == "api":
        return expected_api_status(row, actor)
    if row.kind in {"login", "org"}:
        if actor not in SESSION_ACTORS:
            return 302  # to the log-in page: keys never open the dashboard
        if row.kind == "login":
            return row.ok
        if actor == "b_member":
            return 404
        return row.ok if row.action in ROLE_ALLOWED[actor] else row.denied
    if row.kind == "badge":
        return row.ok if actor in SESSION_ACTORS and actor != "b_member" else 404
    assert row.kind == "repo"
    if row.session_reads and actor in SESSION_ACTORS:
        return 404 if actor == "b_member" else row.ok
    if actor in KEY_REFUSED:
        return KEY_REFUSED[actor]
    if actor in SESSION_ACTORS and row.method == "POST":
        return 403  # a form post with cookies: a browser, which may never upload
    if actor not in KEY_ALLOWED:
        return 401  # anonymous, and sessions: index and upload URLs take keys only
    return row.ok if row.action in KEY_ALLOWED[actor] else 403


@dataclass(frozen=True)
class Route:
    name: str | None
    route: str
    namespace: str | None
    params: tuple[str, ...]


def _params(pattern: URLPattern) -> tuple[str, ...]:
    # Route patterns name their converters; regex patterns their groups.
    return tuple(pattern.pattern.converters or pattern.pattern.regex.groupindex)


def served_routes(
    patterns: list[Any] | None = None, prefix: str = "", namespace: str | None = None
) -> Iterator[Route]:
    """Every URL pattern of the project, with its namespaced name."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(filter(None, [namespace, pattern.namespace])) or None
            yield from served_routes(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield Route(name, prefix + str(pattern.pattern), namespace, _params(pattern))


ROUTES = list(served_routes())
APP_ROUTES = [r for r in ROUTES if r.namespace != ADMIN_NAMESPACE]
ADMIN_ROUTES = [r for r in ROUTES if r.namespace == ADMIN_NAMESPACE and r.name]


def test_it_has_a_policy_row_for_every_url() -> None:
    unnamed = [r.route for r in APP_ROUTES if r.name is None]
    named = {key.split()[0] for key in POLICY}
    missing = [r.name for r in APP_ROUTES if r.name not in named]
    stale = named - {r.name for r in APP_ROUTES}
    assert not unnamed, f"name these URL patterns and give them a POLICY row: {unnamed}"
    assert not missing, f"add these URLs to POLICY in {__file__}: {missing}"
    assert not stale, f"POLICY rows for URLs that no longer exist: {stale}"


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def clients(world: World) -> dict[str, Client]:
    ip = random_source_ip()
    result = {"anonymous": Client(REMOTE_ADDR=ip)}
    for actor in SESSION_ACTORS:
        result[actor] = Client(REMOTE_ADDR=ip)
        result[actor].force_login(world.users[actor])
    for actor in KEY_ACTORS:
        result[actor] = Client(REMOTE_ADDR=ip, HTTP_AUTHORIZATION=basic(world.tokens[actor]))
    return result


def send(client: Client, row: Row, url: str) -> Any:
    if row.kind == "api" and row.method != "GET":
        if row.method == "POST" and row.action == "upload":
            return client.post(url, row.data)  # multipart, as uploads are
        body = json.dumps(row.data)
        return client.generic(row.method, url, body, content_type="application/json")
    if row.method == "POST":
        return client.post(url, row.data)
    return client.generic(row.method, url)


def answer(client: Client, row: Row, url: str) -> Any:
    """The response, with whatever the request changed rolled back for the next actor."""
    with transaction.atomic():
        response = send(client, row, url)
        transaction.set_rollback(True)
    return response


def body(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


# Organization B's actors; everyone else must never see a trace of organization B.
B_ACTORS = {"b_member", "key_b"}


@pytest.mark.parametrize("name", sorted(POLICY))
def test_it_answers_every_actor_as_the_policy_says(world: World, name: str) -> None:
    row = POLICY[name]
    url = reverse(name.split()[0], kwargs=row.kwargs(world))
    got, leaked, unsaid = {}, [], []
    for actor, client in clients(world).items():
        response = answer(client, row, url)
        got[actor] = response.status_code
        text = body(response)
        if actor not in B_ACTORS and b"globex" in text.lower():
            leaked.append(actor)
        if row.ok_says and response.status_code == row.ok and row.ok_says.encode() not in text:
            unsaid.append((actor, text[:200]))
    assert got == {actor: expected_status(row, actor) for actor in ACTORS}
    assert not leaked, f"organization B's data shown to {leaked}"
    assert not unsaid, f"answered {row.ok} without {row.ok_says!r}: {unsaid}"


def _organization_a_state(world: World) -> list[Any]:
    """Everything of organization A a write could change: the organization, its people and
    keys, its repositories and every project, release (yanked or not) and file in them."""
    org = world.org_a
    return [
        list(org.__class__.objects.filter(pk=org.pk).values()),
        list(org.memberships.order_by("pk").values()),
        list(org.api_keys.order_by("pk").values()),
        list(org.invitations.order_by("pk").values()),
        list(org.repositories.order_by("pk").values()),
        list(Project.objects.filter(repository__organization=org).order_by("pk").values()),
        list(Release.objects.filter(project__repository__organization=org).order_by("pk").values()),
        list(File.objects.filter(repository__organization=org).order_by("pk").values()),
    ]


def test_it_lets_no_write_from_organization_b_change_organization_a(world: World) -> None:
    before = _organization_a_state(world)
    # Organization A has a release and a file to protect.
    assert before[-2], "no release"
    assert before[-1], "no file"
    actors = clients(world)
    login = reverse(settings.LOGIN_URL)
    for name, row in POLICY.items():
        tenant_row = row.kind in {"org", "repo"} or (row.kind == "api" and row.org)
        if row.method == "GET" or not tenant_row:
            continue
        url = reverse(name.split()[0], kwargs=row.kwargs(world))
        for actor in B_ACTORS:
            response = send(actors[actor], row, url)
            status = response.status_code
            if status == 302:
                # A dashboard write that worked redirects too: only the log-in page refuses.
                assert response["Location"] == f"{login}?next={url}", (name, actor)
                continue
            # A browser (a session) is refused any upload before it is even looked at.
            browser = actor in SESSION_ACTORS and row.action == "upload"
            assert status in {401, 404} or (browser and status == 403), (name, actor, status)
    assert _organization_a_state(world) == before


def _admin_url(route: Route) -> str:
    for value in ("accounts", "1"):
        try:
            return reverse(route.name, kwargs=dict.fromkeys(route.params, value))
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build a URL for {route.name}")


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=[r.name for r in ADMIN_ROUTES])
def test_it_keeps_everyone_but_staff_out_of_the_admin(world: World, route: Route) -> None:
    url = _admin_url(route)
    get = Row("admin")
    got = {actor: answer(c, get, url).status_code for actor, c in clients(world).items()}
    # The log-in page itself is the one admin page anyone may see.
    expected = 200 if route.name == "admin:login" else 302
    assert got == dict.fromkeys(ACTORS, expected)


# A key reads itself with `read` (and every key with manage:keys): visibility, not a scope.
SCOPE_IS_VISIBILITY = {"api-key"}


def test_it_documents_in_the_schema_the_scope_each_api_row_needs(client: Client) -> None:
    """The schema's `x-required-scope` (or `x-session-only`) says what this table holds."""
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    paths = {r.name: "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.route) for r in APP_ROUTES}
    said, wanted = {}, {}
    for name, row in POLICY.items():
        url_name = name.split()[0]
        if row.kind != "api" or url_name in SCOPE_IS_VISIBILITY:
            continue
        operation = schema["paths"][paths[url_name]][row.method.lower()]
        session = "session" if operation.get("x-session-only") else None
        said[name] = operation.get("x-required-scope", session)
        scope = SCOPE_OF_ACTION.get(row.key_action or row.action, "session")
        wanted[name] = "session" if row.people_only else scope
    assert said == wanted
