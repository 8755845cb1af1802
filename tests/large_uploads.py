"""Uploads too large to hold in memory: a wheel of random, stored bytes written to disk inside
the multipart body twine would send, and a POST that reads that body from the file."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

from django.http import HttpResponse
from django.test.client import ClientHandler

from tests.artifacts import Package

BOUNDARY = "wheelhouse-large-upload"
MB = 1024 * 1024
_DATE = (2023, 11, 14, 22, 13, 20)


@dataclass(frozen=True)
class LargeUpload:
    """A multipart upload body on disk carrying one wheel."""

    body: Path
    filename: str
    size: int
    sha256: str


def _record_line(name: str, digest: bytes, size: int) -> str:
    return f"{name},sha256={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()},{size}\n"


def write_large_wheel(path: Path, package: Package, megabytes: int) -> None:
    """A valid wheel whose one big member is random bytes, stored (not deflated): the file
    is as large as its content and nothing compresses it. Written a megabyte at a time."""
    dist_info = f"{package.dist_name}-{package.version}.dist-info"
    small = {
        f"{dist_info}/METADATA": package.metadata().encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: wheelhouse-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    big_name = f"{package.module}/blob.bin"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        digest = hashlib.sha256()
        info = zipfile.ZipInfo(big_name, date_time=_DATE)
        info.file_size = megabytes * MB
        with archive.open(info, "w") as member:
            for _ in range(megabytes):
                chunk = os.urandom(MB)
                digest.update(chunk)
                member.write(chunk)
        record = [_record_line(big_name, digest.digest(), megabytes * MB)]
        for name, data in small.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_DATE), data)
            record.append(_record_line(name, hashlib.sha256(data).digest(), len(data)))
        archive.writestr(
            zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=_DATE),
            "".join(record) + f"{dist_info}/RECORD,,\n",
        )


def _digests(path: Path) -> dict[str, str]:
    hashes = {"sha256": hashlib.sha256(), "blake2_256": hashlib.blake2b(digest_size=32)}
    with path.open("rb") as fh:
        while chunk := fh.read(MB):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def large_upload(directory: Path, package: Package, megabytes: int) -> LargeUpload:
    """The body twine would send for a wheel of `package` of about `megabytes` MB."""
    filename = f"{package.dist_name}-{package.version}-py3-none-any.whl"
    wheel = directory / filename
    write_large_wheel(wheel, package, megabytes)
    digests = _digests(wheel)
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": package.name,
        "version": package.version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": digests["sha256"],
        "blake2_256_digest": digests["blake2_256"],
    }
    body = directory / f"{filename}.body"
    with body.open("wb") as out, wheel.open("rb") as data:
        for name, value in fields.items():
            out.write(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        out.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        while chunk := data.read(MB):
            out.write(chunk)
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    size = wheel.stat().st_size
    wheel.unlink()
    return LargeUpload(body=body, filename=filename, size=size, sha256=digests["sha256"])


def post_from_disk(url: str, token: str, upload: LargeUpload) -> HttpResponse:
    """POST the body through Django's WSGI handler, read from its file as a server would."""
    basic = base64.b64encode(f"__token__:{token}".encode()).decode()
    with upload.body.open("rb") as body:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": url,
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(upload.body.stat().st_size),
            "HTTP_AUTHORIZATION": f"Basic {basic}",
            "wsgi.input": body,
        }
        setup_testing_defaults(environ)
        return ClientHandler()(environ)
