"""Hostile and broken uploads against production's parts: a reason each, nothing kept in
PostgreSQL or S3."""

from __future__ import annotations

import json

import pytest

from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.e2e.live_checks import file_rows
from tests.e2e.live_checks import post
from tests.e2e.live_checks import query
from tests.e2e.live_checks import repository_id
from tests.e2e.live_checks import stored_objects
from tests.fixtures.hostile import CORPUS
from tests.fixtures.hostile import PACKAGE
from tests.fixtures.hostile import Upload
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e

LIVE_CASES = [
    "zip bomb", "tar.gz bomb", "tar+zip polyglot", "gzip+zip polyglot", "slash in name",
    "backslash in name", "control character in name", "foreign METADATA", "wrong digest",
    "no RECORD", "symlink in sdist", "second PKG-INFO", "bytes after the zip",
    "quote in wheel tag",
]  # fmt: skip


def test_it_refuses_hostile_uploads_and_keeps_nothing(services_stack: ServicesStack) -> None:
    tenant = services_stack.provision("hostile", "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    url = str(tenant["upload_url"])
    repo_id = repository_id(services_stack, "hostile", "main")

    for case in LIVE_CASES:
        build, status, reason = CORPUS[case]
        response = post(url, token, build())
        assert (response.status, case) == (status, case), response.text
        assert reason in response.text, (case, response.text)

    assert file_rows(services_stack, repo_id) == []
    assert stored_objects(services_stack, repo_id) == {}


def test_it_refuses_an_oversized_upload_with_413(services_stack: ServicesStack) -> None:
    tenant = services_stack.provision("hostile", "small")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    repo_id = repository_id(services_stack, "hostile", "small")
    query(services_stack, "UPDATE registry_repository SET max_file_size = 2048 WHERE id = %s "
          "RETURNING id", repo_id)  # fmt: skip
    wheel, _status, _reason = CORPUS["wrong digest"]
    big = Upload(wheel().filename, wheel().data + bytes(1024 * 1024))

    response = post(str(tenant["upload_url"]), token, big, accept="application/json")

    assert response.status == 413
    message = json.loads(response.body)["message"]
    assert message == "File too large. Limit for repository 'hostile/small' is 2 KB."
    assert file_rows(services_stack, repo_id) == []
    assert stored_objects(services_stack, repo_id) == {}


def test_it_keeps_the_first_of_two_sdists_for_one_release(services_stack: ServicesStack) -> None:
    tenant = services_stack.provision("hostile", "sdists")
    token, url = str(tenant["api_key"]["token"]), str(tenant["upload_url"])  # type: ignore[index]
    repo_id = repository_id(services_stack, "hostile", "sdists")
    assert post(url, token, Upload("demo_pkg-1.0.tar.gz", sdist_bytes(PACKAGE))).status == 200

    second = Upload(
        "demo_pkg-1.0.0.tar.gz", sdist_bytes(Package("Demo.Pkg", "1.0.0")), version="1.0.0"
    )
    response = post(url, token, second)

    assert response.status == 400
    assert response.text.strip() == "Only one sdist may be uploaded per release."
    assert [row[0] for row in file_rows(services_stack, repo_id)] == ["demo_pkg-1.0.tar.gz"]
