"""`manage.py provision --kind proxy|virtual`: what operators' scripts and the live tests run."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditEvent
from registry.models import Repository
from registry.models import UpstreamOverride
from registry.selectors import virtual_members

pytestmark = pytest.mark.django_db

UPSTREAM = "http://upstream.test/simple/"


def provision(*args: str) -> dict[str, object]:
    out = StringIO()
    call_command(
        "provision", "--org", "acme", "--email", "owner@acme.test",
        "--base-url", "http://registry.test", *args, stdout=out,
    )  # fmt: skip
    return json.loads(out.getvalue())


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_it_provisions_a_proxy_with_its_settings_and_never_prints_the_password() -> None:
    result = provision(
        "--repo", "mirror", "--kind", "proxy", "--upstream", UPSTREAM,
        "--upstream-username", "bot", "--upstream-password", "s3cret-upstream",
        "--cooldown-days", "3", "--snapshot", "2026-01-31", "--cache-ttl", "60",
    )  # fmt: skip
    repository = Repository.objects.get(organization__slug="acme", slug="mirror")
    assert (repository.kind, repository.upstream_url, repository.cache_ttl) == (
        "proxy",
        UPSTREAM,
        60,
    )
    assert (repository.upstream_username, repository.upstream_password) == (
        "bot",
        "s3cret-upstream",
    )
    assert repository.cooldown_days == 3
    assert repository.snapshot_at == datetime(2026, 1, 31, tzinfo=UTC)
    assert result["kind"] == "proxy"
    assert result["index_url"] == "http://registry.test/acme/mirror/simple/"
    assert "s3cret-upstream" not in json.dumps(result)
    [created] = audit("repository.create")
    assert created.actor_user is not None
    assert created.actor_user.email == "owner@acme.test"
    assert "s3cret-upstream" not in json.dumps(created.details)


def test_it_provisions_a_virtual_repository_idempotently() -> None:
    provision("--repo", "libs")
    provision("--repo", "mirror", "--kind", "proxy", "--upstream", UPSTREAM)
    args = ("--repo", "all", "--kind", "virtual", "--members", "libs,mirror",
            "--upload-target", "libs", "--allow-upstream", "Acme_Patched")  # fmt: skip
    first = provision(*args)
    second = provision(*args)

    virtual = Repository.objects.get(organization__slug="acme", slug="all")
    assert [m.slug for m in virtual_members(repository=virtual)] == ["libs", "mirror"]
    assert virtual.upload_target is not None
    assert virtual.upload_target.slug == "libs"
    assert list(UpstreamOverride.objects.values_list("normalized_name", flat=True)) == [
        "acme-patched"
    ]
    assert (
        first["virtual"]
        == second["virtual"]
        == {
            "members": ["libs", "mirror"],
            "upload_target": "libs",
            "allow_upstream": ["acme-patched"],
        }
    )
    assert first["api_key"] != second["api_key"]  # each run mints a fresh key
    # Running it again changes nothing, so it records nothing either.
    assert [e.target for e in audit("repository.create")] == [
        "repository acme/libs",
        "repository acme/mirror",
        "repository acme/all",
    ]
    assert audit("repository.update") == []
    assert len(audit("repository.upstream_allow")) == 1


def test_a_later_run_updates_the_settings_it_names_only() -> None:
    provision("--repo", "mirror", "--kind", "proxy", "--upstream", UPSTREAM, "--cooldown-days", "7")
    provision("--repo", "mirror", "--kind", "proxy", "--cache-ttl", "30")
    repository = Repository.objects.get(slug="mirror")
    assert (repository.upstream_url, repository.cooldown_days, repository.cache_ttl) == (
        UPSTREAM,
        7,
        30,
    )
    [update] = audit("repository.update")
    assert update.details["settings"] == {"cache_ttl": 30}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--repo", "main", "--upstream", UPSTREAM),
            "--upstream: not a setting of --kind hosted",
        ),
        (("--repo", "v", "--kind", "virtual", "--cooldown-days", "2"), "--cooldown-days"),
        (("--repo", "p", "--kind", "proxy", "--allow-upstream", "x"), "--allow-upstream"),
        (("--repo", "p", "--kind", "proxy", "--upstream", "ftp://x/"), "http or https"),
        (("--repo", "v", "--kind", "virtual", "--members", "nope"), "No repository 'nope'"),
    ],
)
def test_it_refuses_settings_that_do_not_fit(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        provision(*args)
    assert not Repository.objects.filter(slug__in=["p", "v"]).exists()


def test_it_never_prints_credentials_written_into_the_upstream_url() -> None:
    result = provision(
        "--repo", "p", "--kind", "proxy", "--upstream", "https://bot:url-s3cret@up.test/simple/"
    )  # fmt: skip
    assert result["proxy"]["upstream_url"] == "https://up.test/simple/"  # type: ignore[index]
    assert "url-s3cret" not in json.dumps(result)


def test_it_never_changes_a_repository_kind() -> None:
    provision("--repo", "libs")
    with pytest.raises(CommandError, match="exists and is hosted, not proxy"):
        provision("--repo", "libs", "--kind", "proxy", "--upstream", UPSTREAM)
    assert Repository.objects.get(slug="libs").kind == "hosted"


def test_it_takes_a_date_for_the_snapshot() -> None:
    with pytest.raises(CommandError, match="not a YYYY-MM-DD date"):
        provision("--repo", "p", "--kind", "proxy", "--snapshot", "last tuesday")
