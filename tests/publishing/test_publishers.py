"""Configuring trusted publishers: who may, what is accepted, what is recorded; through the
service, the REST API and the repository's settings page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError

from accounts.models import ApiKey
from accounts.models import AuditEvent
from publishing.models import TrustedPublisher
from publishing.services import publisher_create
from publishing.services import publisher_delete
from registry.services import repository_create
from tests.api.conftest import as_actor
from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db

GITHUB = {"kind": "github", "ci_repository": "acme-corp/app", "workflow": "release.yml"}


def test_an_admin_adds_a_github_publisher_in_the_forms_people_paste(world: World) -> None:
    publisher = publisher_create(
        repository=world.repo_a,
        actor=world.users["admin"],
        kind="github",
        ci_repository="https://github.com/acme-corp/app",
        workflow=".github/workflows/release.yml",
        environment=" pypi ",
        project="Acme_Lib",
    )

    assert (publisher.ci_repository, publisher.workflow, publisher.environment) == (
        "acme-corp/app", "release.yml", "pypi"
    )  # fmt: skip
    assert publisher.project == "acme-lib"
    assert publisher.created_by == world.users["admin"]
    event = AuditEvent.objects.get(action="trusted_publisher.create")
    assert event.actor_user == world.users["admin"]
    assert event.details["publisher"] == (
        "acme-corp/app, workflow release.yml, environment pypi, project acme-lib"
    )


@pytest.mark.parametrize("role", ["member", "reader"])
def test_members_and_readers_may_not_configure_publishers(world: World, role: str) -> None:
    with pytest.raises(PermissionDenied):
        publisher_create(repository=world.repo_a, actor=world.users[role], **GITHUB)


def test_a_key_may_not_configure_publishers(world: World) -> None:
    key = ApiKey.objects.get(organization=world.org_a, name="upload")

    with pytest.raises(PermissionDenied):
        publisher_create(repository=world.repo_a, actor=key, **GITHUB)


def test_nobody_configures_publishers_of_another_organization(world: World) -> None:
    with pytest.raises(PermissionDenied):
        publisher_create(repository=world.repo_b, actor=world.users["owner"], **GITHUB)


WORKFLOW_HELP = "Give the workflow's filename in .github/workflows/, e.g. release.yml."
NEEDS_HTTPS = "An issuer URL must be https."


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({**GITHUB, "ci_repository": "just-a-name"}, "ci_repository",
         "Give the GitHub repository as owner/name."),
        ({**GITHUB, "workflow": "ci/release.yml"}, "workflow", WORKFLOW_HELP),
        ({**GITHUB, "workflow": "release.sh"}, "workflow", WORKFLOW_HELP),
        ({**GITHUB, "owner_id": "octocat"}, "owner_id",
         "GitHub ids are numbers (leave blank to record them at first use)."),
        ({**GITHUB, "ci_repository_id": "app"}, "ci_repository_id",
         "GitHub ids are numbers (leave blank to record them at first use)."),
        ({**GITHUB, "project": "not a name!"}, "project",
         "'not a name!' is not a valid project name."),
        ({"kind": "gitlab", "ci_repository": "no-namespace"}, "ci_repository",
         "Give the GitLab project's path: namespace/project (groups included)."),
        ({"kind": "gitlab", "ci_repository": "a/b", "workflow": "../x.yml"}, "workflow",
         "Give the CI configuration's path, e.g. .gitlab-ci.yml."),
        ({"kind": "gitlab", "ci_repository": "a/b", "workflow": "ci.json"}, "workflow",
         "Give the CI configuration's path, e.g. .gitlab-ci.yml."),
        ({"kind": "gitlab", "ci_repository": "a/b", "issuer": "http://gitlab.example"}, "issuer",
         NEEDS_HTTPS),
        ({"kind": "oidc", "issuer": "https://ci.example", "required_claims": {}},
         "required_claims",
         "Require at least one claim (such as sub) that only your pipelines' tokens carry."),
        ({"kind": "oidc", "issuer": "https://ci.example", "required_claims": {"sub": 7}},
         "required_claims", "Claims are names with text values."),
        ({"kind": "oidc", "issuer": "", "required_claims": {"sub": "x"}}, "issuer",
         "Give the issuer's URL."),
        ({"kind": "oidc", "issuer": "https://u:p@ci.example", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL has no credentials, query or fragment."),
        ({"kind": "oidc", "issuer": "https://u@ci.example", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL has no credentials, query or fragment."),
        ({"kind": "oidc", "issuer": "https://:p@ci.example", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL has no credentials, query or fragment."),
        ({"kind": "oidc", "issuer": "https://ci.example/?a=b", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL has no credentials, query or fragment."),
        ({"kind": "oidc", "issuer": "https://ci.example/#top", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL has no credentials, query or fragment."),
        ({"kind": "oidc", "issuer": "https://", "required_claims": {"sub": "x"}},
         "issuer", "An issuer URL needs a host."),
        ({"kind": "oidc", "issuer": "ftp://ci.example", "required_claims": {"sub": "x"}},
         "issuer", NEEDS_HTTPS),
        ({"kind": "jenkins"}, "kind", "Unknown kind 'jenkins'; use one of github, gitlab, oidc."),
    ],
    ids=[
        "github without owner", "workflow in a folder", "workflow not yaml", "owner id text",
        "repository id text", "project name", "gitlab without namespace",
        "gitlab config outside", "gitlab config not yaml", "gitlab over http",
        "oidc without claims", "oidc claim not text", "oidc without issuer",
        "oidc issuer with credentials", "oidc issuer with a user", "oidc issuer with a password",
        "oidc issuer with a query", "oidc issuer with a fragment", "oidc issuer without host",
        "oidc issuer not https",
        "kind",
    ],
)  # fmt: skip
def test_it_refuses_a_publisher_it_could_not_match_safely(
    world: World, fields: dict[str, Any], field: str, says: str
) -> None:
    """Each refusal names the field and says what it takes (the API and the settings page show
    these words)."""
    with pytest.raises(ValidationError) as refused:
        publisher_create(repository=world.repo_a, actor=world.users["owner"], **fields)

    assert refused.value.message_dict == {field: [says]}
    assert not TrustedPublisher.objects.exists()


def test_a_loopback_http_issuer_is_accepted_only_when_the_setting_allows_it(
    world: World, settings: Any
) -> None:
    fields = {"kind": "oidc", "issuer": "http://127.0.0.1:9/", "required_claims": {"sub": "x"}}
    with pytest.raises(ValidationError):
        publisher_create(repository=world.repo_a, actor=world.users["owner"], **fields)

    settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = True
    publisher = publisher_create(repository=world.repo_a, actor=world.users["owner"], **fields)

    assert publisher.issuer == "http://127.0.0.1:9"
    with pytest.raises(ValidationError):
        publisher_create(
            repository=world.repo_a, actor=world.users["owner"],
            **{**fields, "issuer": "http://ci.example"},
        )  # fmt: skip


def test_gitlab_defaults_to_gitlab_com_and_its_usual_ci_file(world: World) -> None:
    publisher = publisher_create(
        repository=world.repo_a, actor=world.users["owner"], kind="gitlab",
        ci_repository="acme/tools/app",
    )  # fmt: skip

    assert (publisher.issuer, publisher.workflow) == ("https://gitlab.com", ".gitlab-ci.yml")


def test_the_same_publisher_twice_is_refused(world: World) -> None:
    publisher_create(repository=world.repo_a, actor=world.users["owner"], **GITHUB)

    with pytest.raises(ValidationError) as refused:
        publisher_create(
            repository=world.repo_a, actor=world.users["owner"],
            **{**GITHUB, "ci_repository": "ACME-corp/App"},
        )  # fmt: skip
    assert refused.value.messages == ["This trusted publisher is already configured here."]


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({**GITHUB, "ci_repository": " https://github.com/acme-corp/app/ "},
         {"ci_repository": "acme-corp/app"}),
        ({**GITHUB, "ci_repository": "Xorg/appX"}, {"ci_repository": "Xorg/appX"}),
        ({"kind": "gitlab", "ci_repository": "/acme/tools/app/", "workflow": "/ci/release.yaml"},
         {"ci_repository": "acme/tools/app", "workflow": "ci/release.yaml"}),
        ({"kind": "gitlab", "ci_repository": "Xgroup/appX", "workflow": "Xci.yml"},
         {"ci_repository": "Xgroup/appX", "workflow": "Xci.yml"}),
        ({"kind": "oidc", "issuer": "https://ci.example/realmX/", "required_claims": {"sub": "x"}},
         {"issuer": "https://ci.example/realmX"}),
    ],
    ids=["github url with slash", "github x at the ends", "gitlab slashes and yaml",
         "gitlab x at the ends", "issuer path with slash"],
)  # fmt: skip
def test_it_keeps_paths_as_given_without_the_slashes_around_them(
    world: World, fields: dict[str, Any], kept: dict[str, str]
) -> None:
    """Slashes pasted around a repository, a CI file or an issuer are dropped, nothing else:
    tokens are matched against exactly these values."""
    publisher = publisher_create(repository=world.repo_a, actor=world.users["owner"], **fields)

    assert {name: getattr(publisher, name) for name in kept} == kept


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (GITHUB, {**GITHUB, "project": "acme-lib"}),
        (GITHUB, {**GITHUB, "ci_repository": "acme-corp/other"}),
        (GITHUB, {**GITHUB, "workflow": "publish.yml"}),
        (GITHUB, {**GITHUB, "environment": "pypi"}),
        ({"kind": "gitlab", "ci_repository": "acme/app"},
         {"kind": "gitlab", "ci_repository": "acme/app", "issuer": "https://gitlab.example"}),
        ({"kind": "oidc", "issuer": "https://ci.example", "required_claims": {"sub": "a"}},
         {"kind": "oidc", "issuer": "https://ci.example", "required_claims": {"sub": "b"}}),
    ],
    ids=["project", "repository", "workflow", "environment", "gitlab instance", "claims"],
)  # fmt: skip
def test_a_publisher_differing_in_one_field_is_another_publisher(
    world: World, first: dict[str, Any], second: dict[str, Any]
) -> None:
    publisher_create(repository=world.repo_a, actor=world.users["owner"], **first)
    publisher_create(repository=world.repo_a, actor=world.users["owner"], **second)

    assert TrustedPublisher.objects.filter(repository=world.repo_a).count() == 2


def test_a_proxy_takes_no_publishers(world: World) -> None:
    proxy = repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="mirror", kind="proxy"
    )

    with pytest.raises(ValidationError) as refused:
        publisher_create(repository=proxy, actor=world.users["owner"], **GITHUB)
    assert refused.value.messages == [
        "A proxy repository takes no uploads, so no trusted publishers."
    ]


def test_removing_a_publisher_is_audited_and_needs_the_right_role(world: World) -> None:
    publisher = publisher_create(repository=world.repo_a, actor=world.users["owner"], **GITHUB)
    with pytest.raises(PermissionDenied):
        publisher_delete(publisher=publisher, actor=world.users["member"])

    publisher_id = publisher.pk

    publisher_delete(publisher=publisher, actor=world.users["admin"])

    assert not TrustedPublisher.objects.exists()
    event = AuditEvent.objects.get(action="trusted_publisher.delete")
    assert event.details["publisher_id"] == publisher_id


# REST API ---------------------------------------------------------------------------------------

PUBLISHERS = "orgs/acme/repos/main/publishers/"


def test_the_api_creates_lists_shows_and_deletes_publishers(world: World) -> None:
    api = as_actor(world, "admin")

    created = api.post(PUBLISHERS, {**GITHUB, "environment": "pypi", "owner_id": "1001"})
    listed = api.get(PUBLISHERS)
    one = api.get(f"{PUBLISHERS}{created.json()['id']}/")
    deleted = api.delete(f"{PUBLISHERS}{created.json()['id']}/")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == "github"
    assert body["ci_repository"] == "acme-corp/app"
    assert body["owner_id"] == "1001"
    assert body["description"] == "acme-corp/app, workflow release.yml, environment pypi"
    assert [p["id"] for p in listed.json()["results"]] == [body["id"]]
    assert one.json() == body
    assert deleted.status_code == 204
    assert not TrustedPublisher.objects.exists()


def test_the_api_names_the_field_it_refuses(world: World) -> None:
    response = as_actor(world, "owner").post(PUBLISHERS, {**GITHUB, "workflow": "x/y.yml"})

    assert response.status_code == 400
    assert "workflow" in response.json()["error"]["fields"]


def test_the_api_takes_another_issuers_claims(world: World) -> None:
    response = as_actor(world, "owner").post(PUBLISHERS, {
        "kind": "oidc", "issuer": "https://agent.buildkite.com", "audience": "wheelhouse",
        "required_claims": {"organization_slug": "acme", "pipeline_slug": "release"},
    })  # fmt: skip

    assert response.status_code == 201, response.content
    assert response.json()["required_claims"] == {
        "organization_slug": "acme", "pipeline_slug": "release"
    }  # fmt: skip


@pytest.mark.parametrize("actor", ["member", "key_upload"])
def test_the_api_refuses_who_may_not_manage_the_repository(world: World, actor: str) -> None:
    api = as_actor(world, actor)

    assert api.get(PUBLISHERS).status_code == 403
    assert api.post(PUBLISHERS, GITHUB).status_code == 403


def _prefixed(data: dict[str, str]) -> dict[str, str]:
    """The form's fields as the settings page names them."""
    return {f"publisher-{name}": value for name, value in data.items()}


# The settings page --------------------------------------------------------------------------------


def test_the_settings_page_lists_adds_and_removes_publishers(world: World) -> None:
    browser = as_user(world, "admin")
    settings_url = "/orgs/acme/repos/main/settings/"

    added = browser.post(
        "/orgs/acme/repos/main/settings/publishers/",
        _prefixed({**GITHUB, "environment": "pypi", "required_claims": ""}),
        follow=True,
    )
    page = browser.get(settings_url).content.decode()
    publisher = TrustedPublisher.objects.get()
    removed = browser.post(
        f"/orgs/acme/repos/main/settings/publishers/{publisher.pk}/remove/", follow=True
    )

    assert "Trusted publisher added" in added.content.decode()
    assert "<code>acme-corp/app</code>, workflow <code>release.yml</code>" in page
    assert "environment <code>pypi</code>" in page
    assert "Trusted publisher removed" in removed.content.decode()
    assert not TrustedPublisher.objects.exists()


def test_the_settings_page_says_why_a_publisher_was_not_added(world: World) -> None:
    response = as_user(world, "owner").post(
        "/orgs/acme/repos/main/settings/publishers/",
        _prefixed({"kind": "oidc", "issuer": "https://ci.example", "required_claims": "sub"}),
        follow=True,
    )

    assert "Write each claim as name=value" in response.content.decode()
    assert not TrustedPublisher.objects.exists()


def test_a_member_cannot_add_publishers_from_the_dashboard(world: World) -> None:
    response = as_user(world, "member").post("/orgs/acme/repos/main/settings/publishers/", GITHUB)

    assert response.status_code == 403
    assert not TrustedPublisher.objects.exists()


def test_the_connect_page_shows_the_ci_snippets_with_the_repositorys_urls(
    world: World, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://packages.example.com"
    settings.OIDC_AUDIENCE = "packages.example.com"

    page = as_user(world, "member").get("/orgs/acme/repos/main/connect/").content.decode()

    upload = "https://packages.example.com/acme/main/legacy/"
    assert "Publishing from CI without secrets" in page
    assert "id-token: write" in page
    assert f"uv publish --trusted-publishing always --publish-url {upload}" in page
    assert "PACKAGES_EXAMPLE_COM_ID_TOKEN:\n      aud: packages.example.com" in page
