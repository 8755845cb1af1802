from __future__ import annotations

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

MODELS = ["accounts/user", "accounts/organization", "accounts/apikey", "registry/repository",
          "registry/project", "registry/release", "registry/file"]  # fmt: skip


@pytest.mark.parametrize("model", MODELS)
def test_it_lists_each_model_for_staff(client, model: str) -> None:
    admin = User.objects.create_superuser("root@example.com", "pw")
    client.force_login(admin)
    assert client.get(f"/admin/{model}/").status_code == 200


def test_it_keeps_non_staff_out(client) -> None:
    client.force_login(User.objects.create_user("someone@example.com", "pw"))
    assert client.get("/admin/registry/file/").status_code == 302
