"""Index pages list a project's files release by release, oldest release first, and by
filename within a release: in the simple API and in the JSON API alike."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.models import File
from registry.models import Release
from tests.world import World
from tests.world import _ready_file
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def _add_file(template: File, release: Release, filename: str) -> None:
    file = File.objects.get(pk=template.pk)
    file.pk = None
    file.release = release
    file.filename = filename
    file.sha256 = filename.encode().hex()[:64].ljust(64, "0")
    file.save()


def test_it_lists_files_oldest_release_first_then_by_filename(world: World) -> None:
    # 0.9 is released after 1.0 (a backport): its filenames sort first, its release later.
    backport = Release.objects.create(
        project=world.file.release.project, version="0.9", canonical_version="0.9"
    )
    _add_file(world.file, backport, "acme_lib-0.9.tar.gz")  # stored before the wheel
    _add_file(world.file, backport, "acme_lib-0.9-py3-none-any.whl")
    token = base64.b64encode(f"__token__:{world.tokens['key_read']}".encode()).decode()
    client = Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=f"Basic {token}")
    expected = [world.file.filename, "acme_lib-0.9-py3-none-any.whl", "acme_lib-0.9.tar.gz"]

    simple = json.loads(client.get("/acme/main/simple/acme-lib/", HTTP_ACCEPT=SIMPLE_JSON).content)
    assert [f["filename"] for f in simple["files"]] == expected

    releases = json.loads(client.get("/acme/main/pypi/acme-lib/json").content)["releases"]
    assert list(releases) == ["1.0", "0.9"]
    assert [f["filename"] for f in releases["0.9"]] == expected[1:]


def test_the_json_api_reads_a_projects_files_in_the_same_queries_however_many(
    world: World,
) -> None:
    many = _ready_file(world.repo_a, "many-lib")
    for version in ("2.0", "3.0", "4.0"):
        release = Release.objects.create(
            project=many.release.project, version=version, canonical_version=version
        )
        _add_file(many, release, f"many_lib-{version}-py3-none-any.whl")
    token = base64.b64encode(f"__token__:{world.tokens['key_read']}".encode()).decode()
    client = Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=f"Basic {token}")
    client.get("/acme/main/simple/")  # a first request, so the two compared start alike
    counts = []
    for name in ("acme-lib", "many-lib"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/acme/main/pypi/{name}/json").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
