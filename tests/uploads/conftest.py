from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_get_or_create
from registry.models import Repository
from registry.services import repository_get_or_create
from tests.clients import multipart
from tests.fixtures.hostile import Upload


@pytest.fixture
def packages_dir(settings, tmp_path: Path) -> Path:
    """The packages storage as a local folder this test can inspect."""
    location = tmp_path / "packages"
    settings.S3_BUCKET = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "registry.storage.AtomicFileSystemStorage",
            "OPTIONS": {"location": str(location), "allow_overwrite": True},
        },
    }
    return location


def stored_files(location: Path) -> list[Path]:
    return [p for p in location.rglob("*") if p.is_file()] if location.exists() else []


@dataclass
class Tenant:
    repository: Repository
    token: str
    client: Client
    owner: User

    @property
    def upload_url(self) -> str:
        return f"/{self.repository.organization.slug}/{self.repository.slug}/legacy/"

    def post(self, upload: Upload, *, url: str | None = None, accept: str = "") -> object:
        body, content_type = multipart(upload.fields(), {"content": (upload.filename, upload.data)})
        basic = base64.b64encode(f"__token__:{self.token}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        if accept:
            headers["Accept"] = accept
        return self.client.generic(
            "POST", url or self.upload_url, body, content_type=content_type, headers=headers
        )


@pytest.fixture
def tenant(db, packages_dir: Path) -> Tenant:
    owner = User.objects.create_user("owner@acme.test")
    organization = organization_get_or_create(slug="acme", name="Acme", owner=owner)
    repository = repository_get_or_create(organization=organization, slug="main")
    key = api_key_create(organization=organization, name="ci", scope="upload")
    return Tenant(repository=repository, token=key.token, client=Client(), owner=owner)
