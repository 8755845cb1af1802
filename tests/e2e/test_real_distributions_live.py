"""Distributions exactly as PyPI serves them, published with twine to a live registry.

A team moving its packages over uploads what it already has: sdists named as every
setuptools before 69.3 names them (`Django-5.1.3.tar.gz`, `zope.interface-7.1.1.tar.gz`,
`ruamel.yaml-0.18.6.tar.gz`) and ordinary wheels. twine stops a batch at the first refusal,
so every one of them must go through, be processed, and be served back byte for byte.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.clients import http
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.fixtures.real import REAL
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e


def test_twine_publishes_every_real_distribution_in_one_batch(
    services_stack: ServicesStack, real_distributions: dict[str, bytes], tmp_path: Path
) -> None:
    tenant = services_stack.provision("realworld", "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    files = []
    for real in REAL:
        path = tmp_path / real.filename
        path.write_bytes(real_distributions[real.filename])
        files.append(path)

    published = twine_upload(str(tenant["upload_url"]), token, files)

    assert published.returncode == 0, published.output
    index_url = str(tenant["index_url"])
    for real in REAL:
        page = wait_until_listed(index_url, token, real.project, [real.filename])
        href = re.search(rf'href="([^"]+/{re.escape(real.filename)})#sha256=(\w+)"', page)
        assert href is not None, page
        assert href.group(2) == real.sha256
        served = http("GET", services_stack.url(href.group(1)), token=token)
        if served.status == 302:  # S3: a presigned redirect to the object itself
            served = http("GET", served.headers["Location"])
        assert served.status == 200
        assert hashlib.sha256(served.body).hexdigest() == real.sha256
