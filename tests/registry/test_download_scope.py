"""A download URL names the repository and the file's sha256: both must match the file."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db


def test_it_serves_a_file_only_from_its_own_repository_under_its_own_digest(
    world: World,
) -> None:
    token = base64.b64encode(f"__token__:{world.tokens['key_read']}".encode()).decode()
    client = Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=f"Basic {token}")
    file = world.file
    served = client.get(f"/acme/main/files/{file.sha256}/{file.filename}")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == b"wheel bytes of acme-lib"
    # The key may read acme/other too, but the file is not in it.
    assert client.get(f"/acme/other/files/{file.sha256}/{file.filename}").status_code == 404
    assert client.get(f"/acme/main/files/{'0' * 64}/{file.filename}").status_code == 404
