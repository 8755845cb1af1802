"""What must hold after any reliability scenario (issue 14), whatever failed during it.

For one repository, given the uploads the registry acknowledged (answered 200):
- each is exactly one file row, with the acknowledged bytes' sha256, and every row leaves
  `pending` within a bounded wait: `ready`, or `rejected` with a reason;
- each ready file's object reads back with the recorded sha256, its `.metadata` beside it;
- the index, read with a key as an installer reads it, lists exactly the ready files;
- storage holds no object that no row names (distribution or `.metadata`);
- S3 holds no unfinished multipart upload.

Two views of a registry answer the same questions: `LiveRegistry`, a running stack
(tests/services.py) seen from outside as the e2e scenarios see it (its database, its bucket or
data folder, its index over HTTP); and `InProcessRegistry`, the test's own Django settings
(the ORM, the packages storage, the test client) for the in-process scenarios.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Protocol

from django.core.files.storage import FileSystemStorage

from registry.models import File
from registry.models import FileStatus
from registry.models import Repository
from registry.storage import packages_storage
from tests.clients import http
from tests.e2e.live_checks import query
from tests.e2e.live_checks import repository_id
from tests.e2e.live_checks import stored_objects
from tests.services import LiveStack
from tests.services import ServicesStack
from tests.world import download
from tests.world import key_client

V1_JSON = "application/vnd.pypi.simple.v1+json"
SETTLE_SECONDS = 90.0


@dataclass(frozen=True)
class Acknowledged:
    """An upload the registry answered 200 for: its filename and the sha256 of the bytes sent."""

    filename: str
    sha256: str

    @classmethod
    def of(cls, filename: str, data: bytes) -> Acknowledged:
        return cls(filename, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Row:
    filename: str
    project: str  # normalized name: the index page's name
    sha256: str
    status: str
    storage_key: str
    rejection_reason: str


class Registry(Protocol):
    def rows(self) -> list[Row]: ...

    def objects(self) -> dict[str, bytes]:
        """Every object stored under the repository's prefix, by key."""
        ...

    def listed(self, project: str) -> set[str] | None:
        """The filenames the project's index page lists, or None when it answers no page."""
        ...

    def unfinished_uploads(self) -> list[str]:
        """Keys of S3 multipart uploads begun under the repository's prefix, never completed."""
        ...


def assert_invariants(
    registry: Registry, acknowledged: Iterable[Acknowledged], *, timeout: float = SETTLE_SECONDS
) -> list[Row]:
    """Wait (at most `timeout`) for every row to leave `pending`, then assert every
    invariant; the rows, for a scenario's own further checks."""
    acked = list(acknowledged)
    deadline = time.monotonic() + timeout
    rows = registry.rows()
    while any(row.status == FileStatus.PENDING for row in rows) and time.monotonic() < deadline:
        time.sleep(0.25)
        rows = registry.rows()
    pending = sorted(row.filename for row in rows if row.status == FileStatus.PENDING)
    assert not pending, f"still pending after {timeout}s: {pending}"

    by_name: dict[str, list[Row]] = {}
    for row in rows:
        by_name.setdefault(row.filename, []).append(row)
    problems: list[str] = []
    for ack in acked:
        found = by_name.get(ack.filename, [])
        if len(found) != 1:
            problems.append(f"{ack.filename}: acknowledged, {len(found)} rows")
        elif found[0].sha256 != ack.sha256:
            problems.append(f"{ack.filename}: acknowledged other bytes than its row records")
    for row in rows:
        if row.status == FileStatus.REJECTED and not row.rejection_reason.strip():
            problems.append(f"{row.filename}: rejected without a reason")

    objects = registry.objects()
    for row in rows:
        if row.status != FileStatus.READY:
            continue
        body = objects.get(row.storage_key)
        if body is None:
            problems.append(f"{row.filename}: ready, no object at {row.storage_key}")
        elif hashlib.sha256(body).hexdigest() != row.sha256:
            problems.append(f"{row.filename}: its object's sha256 is not the recorded one")
        if f"{row.storage_key}.metadata" not in objects:
            problems.append(f"{row.filename}: ready, no .metadata beside it")
    named = {key for row in rows for key in (row.storage_key, f"{row.storage_key}.metadata")}
    problems += [f"{key}: stored, no row names it" for key in sorted(set(objects) - named)]
    problems += [f"{key}: unfinished multipart upload" for key in registry.unfinished_uploads()]
    problems += _index_problems(registry, rows, deadline)
    assert not problems, "invariants broken:\n" + "\n".join(problems)
    return rows


def _index_problems(registry: Registry, rows: list[Row], deadline: float) -> list[str]:
    """The index must list exactly the ready files. A page may lag a write by the moment its
    generation takes to be seen, never longer: asked again until the deadline."""
    ready: dict[str, set[str]] = {}
    for row in rows:
        wanted = ready.setdefault(row.project, set())
        if row.status == FileStatus.READY:
            wanted.add(row.filename)
    while True:
        problems = []
        for project, wanted in sorted(ready.items()):
            listed = registry.listed(project)
            if listed is None and wanted:
                problems.append(f"{project}: no index page, {len(wanted)} ready files")
            elif listed is not None and listed != wanted:
                missing, extra = sorted(wanted - listed), sorted(listed - wanted)
                problems.append(f"{project}: index misses {missing}, lists not-ready {extra}")
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.5)


def _listed(status: int, body: bytes) -> set[str] | None:
    if status != 200:
        return None
    return {file["filename"] for file in json.loads(body)["files"]}


class LiveRegistry:
    """A repository of a running stack, seen as the e2e scenarios see it."""

    def __init__(self, stack: LiveStack, org: str, repo: str, token: str) -> None:
        self.stack = stack
        self.repository_id = repository_id(stack, org, repo)
        self.index_url = stack.url(f"{org}/{repo}/simple/")
        self.token = token

    def rows(self) -> list[Row]:
        found = query(
            self.stack,
            "SELECT f.filename, p.normalized_name, f.sha256, f.status, f.storage_key, "
            "f.rejection_reason FROM registry_file f "
            "JOIN registry_release r ON r.id = f.release_id "
            "JOIN registry_project p ON p.id = r.project_id "
            "WHERE f.repository_id = %s ORDER BY f.filename",
            self.repository_id,
        )
        return [Row(*(str(value) for value in row)) for row in found]

    def objects(self) -> dict[str, bytes]:
        return stored_objects(self.stack, self.repository_id)

    def listed(self, project: str) -> set[str] | None:
        response = http(
            "GET", f"{self.index_url}{project}/", token=self.token, headers={"Accept": V1_JSON}
        )
        return _listed(response.status, response.body)

    def unfinished_uploads(self) -> list[str]:
        if not isinstance(self.stack, ServicesStack):
            return []  # a data folder: no multipart uploads (a cut-off write is an object)
        pages = (
            self.stack.s3.client()
            .get_paginator("list_multipart_uploads")
            .paginate(
                Bucket=self.stack.env["S3_BUCKET"], Prefix=f"repositories/{self.repository_id}/"
            )
        )
        return [upload["Key"] for page in pages for upload in page.get("Uploads", [])]


class InProcessRegistry:
    """A repository in the test's own database and packages storage."""

    def __init__(self, repository: Repository, token: str) -> None:
        self.repository = repository
        self.prefix = f"repositories/{repository.pk}/"
        self.index_url = f"/{repository.organization.slug}/{repository.slug}/simple/"
        self.token = token

    def rows(self) -> list[Row]:
        files = File.objects.filter(repository=self.repository).select_related("release__project")
        return [
            Row(
                f.filename,
                f.release.project.normalized_name,
                f.sha256,
                f.status,
                f.storage_key,
                f.rejection_reason,
            )
            for f in files.order_by("filename")
        ]

    def objects(self) -> dict[str, bytes]:
        storage = packages_storage()
        if isinstance(storage, FileSystemStorage):
            root = Path(storage.location)
            folder = root / self.prefix
            paths = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in paths}
        client, bucket = self._s3()
        objects = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=self.prefix
        ):
            for item in page.get("Contents", []):
                objects[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])[
                    "Body"
                ].read()
        return objects

    def listed(self, project: str) -> set[str] | None:
        return _listed(
            *download(key_client(self.token), f"{self.index_url}{project}/", accept=V1_JSON)
        )

    def unfinished_uploads(self) -> list[str]:
        if isinstance(packages_storage(), FileSystemStorage):
            return []
        client, bucket = self._s3()
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=self.prefix
        )
        return [upload["Key"] for page in pages for upload in page.get("Uploads", [])]

    @staticmethod
    def _s3() -> tuple[Any, str]:
        storage: Any = packages_storage()
        return storage.connection.meta.client, storage.bucket_name
