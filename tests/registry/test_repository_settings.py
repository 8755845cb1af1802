"""The settings of proxy and virtual repositories, through the services every interface
calls (the dashboard, the REST API, `provision`): each refusal names its field and says why,
and nothing of a refused change is kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from accounts.services import organization_create
from registry.models import Repository
from registry.services import MAX_CACHE_TTL
from registry.services import repository_create
from registry.services import repository_update
from tests.world import World

pytestmark = pytest.mark.django_db


def _refusal(call: Any, repository: Repository, **kwargs: Any) -> dict[str, list[str]]:
    """What the service refuses, by field; the repository is read again after each call, as
    the next request would (the refused change was rolled back)."""
    with pytest.raises(ValidationError) as refused:
        call(repository=repository, **kwargs)
    repository.refresh_from_db()
    return refused.value.message_dict


@pytest.fixture
def proxy(world: World) -> Repository:
    return repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="mirror", kind="proxy"
    )


@pytest.fixture
def virtual(world: World, proxy: Repository) -> Repository:
    return repository_create(
        organization=world.org_a, actor=world.users["owner"], slug="all", kind="virtual",
        members=[world.repo_a.slug, "mirror"], upload_target=world.repo_a.slug,
    )  # fmt: skip


def test_a_proxy_refuses_settings_out_of_bounds_naming_the_field(
    world: World, proxy: Repository
) -> None:
    owner = world.users["owner"]
    update = {"call": repository_update, "repository": proxy, "actor": owner}
    assert _refusal(**update, upstream_url="ftp://mirror.example/simple/") == {
        "upstream_url": ["The upstream must be an http or https URL."]
    }
    assert _refusal(**update, cache_ttl=MAX_CACHE_TTL + 1) == {
        "cache_ttl": [f"Keep pages at most {MAX_CACHE_TTL} seconds (a week)."]
    }
    assert list(_refusal(**update, allow_rules="requests\n!!")) == ["allow_rules"]
    assert list(_refusal(**update, deny_rules="ok\n!!")) == ["deny_rules"]
    assert _refusal(**update, exempt_names="django>=4") == {
        "exempt_names": ["Line 1 ('django>=4'): exemptions name projects, not versions."]
    }
    proxy.refresh_from_db()
    assert (proxy.upstream_url, proxy.cache_ttl, proxy.allow_rules) == (
        "https://pypi.org/simple/",
        600,
        "",
    )
    # The bound itself is allowed.
    repository_update(repository=proxy, actor=owner, cache_ttl=MAX_CACHE_TTL)
    proxy.refresh_from_db()
    assert proxy.cache_ttl == MAX_CACHE_TTL


def test_clearing_a_proxys_settings_leaves_them_empty_not_missing(
    world: World, proxy: Repository
) -> None:
    owner = world.users["owner"]
    repository_update(
        repository=proxy, actor=owner, upstream_username="robot", deny_rules="six",
        cooldown_days=7, cache_ttl=60,
    )  # fmt: skip
    repository_update(
        repository=proxy, actor=owner, upstream_username=None, deny_rules=None,
        cooldown_days=0, cache_ttl=None,
    )  # fmt: skip
    proxy.refresh_from_db()
    assert (proxy.upstream_username, proxy.deny_rules) == ("", "")
    assert proxy.cooldown_days is None  # 0 days is no cooldown
    assert proxy.cache_ttl == 600  # back to the default


def test_a_virtual_repository_refuses_bad_members_naming_the_field(
    world: World, virtual: Repository
) -> None:
    owner = world.users["owner"]
    update = {"call": repository_update, "repository": virtual, "actor": owner}
    assert _refusal(**update, members=["mirror", "mirror"]) == {
        "members": ["A repository can be a member only once."]
    }
    # Organization B has a repository of that name; it is not one of A's.
    other_org_slug = "globex-only"
    repository_create(organization=world.org_b, actor=world.users["b_member"], slug=other_org_slug)
    assert not Repository.objects.filter(organization=world.org_a, slug=other_org_slug).exists()
    assert _refusal(**update, members=[other_org_slug]) == {
        "members": [f"No repository '{other_org_slug}' in this organization."]
    }
    assert _refusal(**update, members=["all"]) == {
        "members": ["'all' is virtual; members are hosted or proxy repositories."]
    }
    assert [m.member.slug for m in virtual.memberships.order_by("position")] == [
        world.repo_a.slug,
        "mirror",
    ]


def test_an_upload_target_is_a_hosted_member_of_this_virtual_repository(
    world: World, virtual: Repository
) -> None:
    owner = world.users["owner"]
    update = {"call": repository_update, "repository": virtual, "actor": owner}
    message = ["The upload target must be a hosted member of 'all'."]
    assert _refusal(**update, upload_target="mirror") == {"upload_target": message}
    # A hosted repository of this organization that is a member of another virtual one only.
    extra = repository_create(organization=world.org_a, actor=owner, slug="extra")
    repository_create(
        organization=world.org_a, actor=owner, slug="elsewhere", kind="virtual",
        members=["extra"], upload_target="extra",
    )  # fmt: skip
    assert _refusal(**update, upload_target=extra.slug) == {"upload_target": message}
    # Another organization's repository is never found, and a miss never clears the target.
    b_owner = world.users["owner"]
    twin = organization_create(slug="twin-org", name="Twin", creator=b_owner)
    repository_create(organization=twin, actor=b_owner, slug="extra2")
    assert _refusal(**update, upload_target="extra2") == {
        "upload_target": ["No repository 'extra2' in this organization."]
    }
    virtual.refresh_from_db()
    assert virtual.upload_target == world.repo_a


def test_virtual_settings_are_audited_with_what_changed(world: World, virtual: Repository) -> None:
    repository_update(
        repository=virtual, actor=world.users["owner"], members=["mirror"], upload_target=None
    )
    event = AuditEvent.objects.filter(action="repository.update").latest("pk")
    assert event.details["members"] == ["mirror"]
    assert event.details["upload_target"] is None
    created = AuditEvent.objects.filter(action="repository.create", target="repository acme/all")
    assert created.get().details["upload_target"] == world.repo_a.slug
