from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from registry.services import repository_create
from tests.world import World

pytestmark = pytest.mark.django_db

# What staff see on each list page for the world's two organizations (tests/world.py): the
# count the paginator shows and the names linked from the first column.
LISTED = {
    "accounts/user": ("10 users", ["owner@acme.test", "owner@globex.test", "root@example.com"]),
    "accounts/organization": ("2 organizations", ["acme", "globex"]),
    "accounts/apikey": ("19 api keys", ["b", "read", "upload"]),
    "registry/repository": ("3 repositories", ["main", "other"]),
    "registry/project": ("2 projects", ["acme-lib", "globex-sentinel-lib"]),
    "registry/release": ("2 releases", ["acme-lib", "globex-sentinel-lib"]),
    "registry/file": (
        "2 files",
        ["acme_lib-1.0-py3-none-any.whl", "globex_sentinel_lib-1.0-py3-none-any.whl"],
    ),
}


@pytest.mark.parametrize("model", list(LISTED))
def test_it_lists_each_model_for_staff(world: World, model: str) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", "pw"))
    response = client.get(f"/admin/{model}/")
    assert response.status_code == 200
    page = response.content.decode()
    count, names = LISTED[model]
    assert re.search(rf'class="paginator">\s*{count}\s', page), page
    linked = re.findall(r'<th class="field-[^"]+"><a [^>]*>([^<]*)</a>', page)
    assert set(names) <= set(linked), linked


def test_it_keeps_non_staff_out(client: Client) -> None:
    client.force_login(User.objects.create_user("someone@example.com", "pw"))
    response = client.get("/admin/registry/file/")
    assert (response.status_code, response["Location"]) == (
        302,
        "/admin/login/?next=/admin/registry/file/",
    )
    login = client.get(response["Location"]).content.decode()
    assert "You are authenticated as someone@example.com, but are not authorized" in login


def test_a_proxy_repositorys_upstream_password_never_appears_in_the_admin(world: World) -> None:
    proxy = repository_create(
        organization=world.org_a,
        actor=world.users["owner"],
        slug="mirror",
        kind="proxy",
        upstream_url="https://mirror.example/simple/",
        upstream_username="robot",
        upstream_password="hunter2-upstream-secret",
    )
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", "pw"))
    page = client.get(f"/admin/registry/repository/{proxy.pk}/change/").content.decode()
    assert "https://mirror.example/simple/" in page
    assert "hunter2-upstream-secret" not in page
