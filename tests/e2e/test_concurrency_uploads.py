"""Racing uploads on production's parts: one row per filename, bytes that match their hash,
and clean answers for the losers."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import wait_until_listed
from tests.e2e.live_checks import download_listed
from tests.e2e.live_checks import file_rows
from tests.e2e.live_checks import post
from tests.e2e.live_checks import repository_id
from tests.e2e.live_checks import stored_objects
from tests.fixtures.hostile import Upload
from tests.services import LiveStack

pytestmark = pytest.mark.e2e
RACERS = 20


def race(url: str, token: str, uploads: list[Upload]) -> list[tuple[int, str]]:
    with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
        responses = list(pool.map(lambda u: post(url, token, u), uploads))
    return [(r.status, r.text.strip()) for r in responses]


def test_it_makes_one_file_of_twenty_identical_concurrent_uploads(stack: LiveStack) -> None:
    tenant = stack.provision("racing", "same")
    token, url = str(tenant["api_key"]["token"]), str(tenant["upload_url"])  # type: ignore[index]
    package = Package("race-same", "1.0")
    data = wheel_bytes(package)

    answers = race(url, token, [Upload(wheel_filename(package), data, name=package.name)] * RACERS)

    assert [status for status, _ in answers] == [200] * RACERS, answers
    index_url = str(tenant["index_url"])
    wait_until_listed(index_url, token, package.name, [wheel_filename(package)])
    assert download_listed(stack, index_url, token, package.name) == {wheel_filename(package): data}
    # One row, and exactly its bytes stored (with, once processed, its .metadata file).
    repo_id = repository_id(stack, "racing", "same")
    rows = file_rows(stack, repo_id)
    assert len(rows) == 1
    _filename, sha256, _blake2, _status, key, _processed = rows[0]
    stored = stored_objects(stack, repo_id)
    assert sorted(stored) == [str(key), f"{key}.metadata"]
    assert (
        hashlib.sha256(stored[str(key)]).hexdigest() == sha256 == hashlib.sha256(data).hexdigest()
    )


def test_it_keeps_one_winner_of_twenty_different_files_under_one_name(stack: LiveStack) -> None:
    tenant = stack.provision("racing", "different")
    token, url = str(tenant["api_key"]["token"]), str(tenant["upload_url"])  # type: ignore[index]
    filename = wheel_filename(Package("race-diff", "1.0"))
    variants = [
        Upload(filename, wheel_bytes(Package("race-diff", "1.0", summary=f"variant {i}")),
               name="race-diff")
        for i in range(RACERS)
    ]  # fmt: skip

    answers = race(url, token, variants)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (RACERS - 1), answers
    assert all(text.startswith("File already exists") for status, text in answers if status == 409)
    winner = next(v for v, (status, _) in zip(variants, answers, strict=True) if status == 200)
    index_url = str(tenant["index_url"])
    wait_until_listed(index_url, token, "race-diff", [filename])
    assert download_listed(stack, index_url, token, "race-diff") == {filename: winner.data}
    repo_id = repository_id(stack, "racing", "different")
    rows = file_rows(stack, repo_id)
    assert [row[1] for row in rows] == [hashlib.sha256(winner.data).hexdigest()]
    # Only the winner's bytes are kept (and, once processed, its .metadata file).
    distributions = {
        k: v for k, v in stored_objects(stack, repo_id).items() if not k.endswith(".metadata")
    }
    assert list(distributions.values()) == [winner.data]
