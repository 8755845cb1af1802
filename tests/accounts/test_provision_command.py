from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError
from django.core.management import call_command

from accounts.models import ApiKey
from accounts.models import Membership
from accounts.models import User
from accounts.services import api_key_authenticate
from registry.models import Repository

pytestmark = pytest.mark.django_db


def provision(*args: str) -> dict[str, object]:
    out = io.StringIO()
    call_command("provision", *args, stdout=out)
    return json.loads(out.getvalue())


ARGS = (
    "--org",
    "acme",
    "--repo",
    "main",
    "--email",
    "Ops@Acme.test",
    "--base-url",
    "https://r.example/",
)


def test_it_prints_a_working_key_and_the_urls() -> None:
    result = provision(*ARGS)
    key = result["api_key"]
    assert api_key_authenticate(key["token"]).scope == "upload"
    assert result["index_url"] == "https://r.example/acme/main/simple/"
    assert result["upload_url"] == "https://r.example/acme/main/legacy/"
    # The URL with credentials in it carries a read-only key: it ends up in browsers.
    install = result["install_key"]["token"]
    assert result["pip_index_url"] == f"https://__token__:{install}@r.example/acme/main/simple/"
    assert api_key_authenticate(install).scope == "read"
    assert key["token"] not in result["pip_index_url"]
    assert Membership.objects.get(organization__slug="acme").role == "owner"


def test_it_reuses_what_exists_and_mints_a_new_key_each_run() -> None:
    first = provision(*ARGS)
    second = provision(*ARGS, "--scope", "read")
    assert first["api_key"]["token"] != second["api_key"]["token"]
    assert Repository.objects.filter(organization__slug="acme").count() == 1
    # The first run mints an upload key and a read key for installs; a read run, one key.
    assert ApiKey.objects.count() == 3
    assert api_key_authenticate(second["api_key"]["token"]).scope == "read"
    assert second["install_key"]["token"] == second["api_key"]["token"]


def test_it_refuses_a_slug_that_shadows_a_route() -> None:
    with pytest.raises(CommandError, match="reserved"):
        provision("--org", "admin", "--repo", "main", "--email", "a@b.test")
    assert not Repository.objects.exists()
    assert not User.objects.exists()  # one transaction: nothing half-made
