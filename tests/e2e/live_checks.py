"""What a live stack holds: its rows (PostgreSQL, or the embedded stack's SQLite) and its
objects (S3, or files under the embedded stack's DATA_DIR)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import psycopg

from tests.clients import Response
from tests.clients import http
from tests.clients import multipart
from tests.fixtures.hostile import Upload
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import LiveStack
from tests.services import ServicesStack


def post(url: str, token: str, upload: Upload, *, accept: str = "") -> Response:
    body, content_type = multipart(upload.fields(), {"content": (upload.filename, upload.data)})
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    return http("POST", url, token=token, data=body, headers=headers)


# Runs in the embedded stack's own settings (its SQLite database): Django's cursor takes the
# same %s placeholders as psycopg. Values print as JSON, datetimes as text.
_EMBEDDED_QUERY = """
import json
from django.db import connection
sql, params = json.loads({payload!r})
with connection.cursor() as cursor:
    cursor.execute(sql, params)
    print(json.dumps(cursor.fetchall(), default=str))
"""


def query(stack: LiveStack, sql: str, *params: object) -> list[tuple[object, ...]]:
    if isinstance(stack, ServicesStack):
        with psycopg.connect(stack.database_url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
    code = _EMBEDDED_QUERY.format(payload=json.dumps([sql, list(params)]))
    output = stack.manage("shell", "-c", code)
    return [tuple(row) for row in json.loads(output.strip().splitlines()[-1])]


def repository_id(stack: LiveStack, org: str, repo: str) -> int:
    rows = query(
        stack,
        "SELECT r.id FROM registry_repository r JOIN accounts_organization o "
        "ON o.id = r.organization_id WHERE o.slug = %s AND r.slug = %s",
        org,
        repo,
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def file_rows(stack: LiveStack, repo_id: int) -> list[tuple[object, ...]]:
    return query(
        stack,
        "SELECT filename, sha256, blake2_256, status, storage_key, processed_at "
        "FROM registry_file WHERE repository_id = %s ORDER BY filename",
        repo_id,
    )


def stored_objects(stack: LiveStack, repo_id: int) -> dict[str, bytes]:
    """Every stored object of the repository, by storage key."""
    if not isinstance(stack, ServicesStack):
        root = Path(stack.env["DATA_DIR"]) / "files"
        folder = root / "repositories" / str(repo_id)
        paths = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in paths}
    client = boto3.client(
        "s3",
        endpoint_url=stack.s3.endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )
    bucket = stack.env["S3_BUCKET"]
    # Page by page: S3 lists at most 1,000 keys per request.
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"repositories/{repo_id}/"
    )
    return {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for page in pages
        for item in page.get("Contents", [])
    }


def download_listed(stack: LiveStack, index_url: str, token: str, project: str) -> dict[str, bytes]:
    """Every file the project's index page lists, fetched as an installer would."""
    page = http("GET", f"{index_url}{project}/", token=token).text
    files = {}
    for href, filename in re.findall(r'<a href="([^"#]+)#[^"]*"[^>]*>([^<]+)</a>', page):
        response = http("GET", stack.url(href) if href.startswith("/") else href, token=token)
        if response.status == 302:  # S3: a presigned URL
            response = http("GET", response.headers["Location"])
        assert response.status == 200, (href, response.status)
        files[filename] = response.body
    return files
