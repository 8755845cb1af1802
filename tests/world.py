"""The tenants tests run against in-process: `World`, two organizations with every kind of
member and key (the access tests), and `Tenant`, one organization with an upload key (the
upload tests). The fixtures that build them are in tests/conftest.py."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import Invitation
from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_create
from accounts.services import organization_get_or_create
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import File
from registry.models import FileStatus
from registry.models import PackageType
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.services import repository_get_or_create
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import multipart
from tests.fixtures.hostile import Upload
from uploads.processing import file_process
from uploads.services import upload_receive
from uploads.validation import parse_upload_form

INVITATION_TOKEN = "matrix-invitation-token"

# Requests come from here, a different address per test so brute-force counters never mix.
# Key "network" only accepts 10.99.0.0/16, which no test client address is in.
KEY_NETWORK = "10.99.0.0/16"


def random_source_ip() -> str:
    return str(ipaddress.ip_address("10.200.0.0") + secrets.randbelow(65536))


@dataclass
class World:
    org_a: Organization
    org_b: Organization
    repo_a: Repository
    repo_a2: Repository
    repo_b: Repository
    users: dict[str, User]
    tokens: dict[str, str]
    file: File
    invitation: Invitation
    extra_membership: Membership
    sentinel_b: str = "globex-sentinel-lib"
    memberships: dict[str, Membership] = field(default_factory=dict)


def _user(email: str) -> User:
    user = User.objects.create_user(email)
    return user


def _ready_file(repository: Repository, name: str) -> File:
    project = Project.objects.create(repository=repository, name=name, normalized_name=name)
    release = Release.objects.create(project=project, version="1.0", canonical_version="1")
    data = f"wheel bytes of {name}".encode()
    filename = f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    sha256 = hashlib.sha256(data).hexdigest()
    blake = hashlib.blake2b(data, digest_size=32).hexdigest()
    key = f"repositories/{repository.pk}/{blake}/{filename}"
    packages_storage().save(key, ContentFile(data))
    return File.objects.create(
        release=release, repository=repository, filename=filename,
        packagetype=PackageType.WHEEL, python_version="py3", size=len(data), sha256=sha256,
        blake2_256=blake, md5="0" * 32, storage_key=key, status=FileStatus.READY,
    )  # fmt: skip


def build_world() -> World:
    users = {r: _user(f"{r}@acme.test") for r in ("owner", "admin", "member", "reader")}
    users["b_member"] = _user("owner@globex.test")
    users["extra"] = _user("extra@acme.test")
    users["leaver"] = _user("leaver@acme.test")
    users["demoted"] = _user("demoted@acme.test")
    users["demoted_admin"] = _user("demoted-admin@acme.test")
    org_a = organization_create(slug="acme", name="Acme", creator=users["owner"])
    org_b = organization_get_or_create(slug="globex", name="Globex", owner=users["b_member"])
    memberships = {}
    for role in ("admin", "member", "reader"):
        memberships[role] = Membership.objects.create(
            user=users[role], organization=org_a, role=role
        )
    extra = Membership.objects.create(user=users["extra"], organization=org_a, role=Role.MEMBER)
    leaver = Membership.objects.create(user=users["leaver"], organization=org_a, role=Role.MEMBER)
    demoted = Membership.objects.create(user=users["demoted"], organization=org_a, role=Role.MEMBER)
    demoted_admin = Membership.objects.create(
        user=users["demoted_admin"], organization=org_a, role=Role.ADMIN
    )
    repo_a = repository_get_or_create(organization=org_a, slug="main")
    repo_a2 = repository_get_or_create(organization=org_a, slug="other")
    repo_b = repository_get_or_create(organization=org_b, slug="main")
    gone = repository_get_or_create(organization=org_a, slug="gone")
    now = timezone.now()

    def key(name: str, org: Organization = org_a, **kw: object) -> str:
        kw.setdefault("scope", KeyScope.UPLOAD)
        return api_key_create(organization=org, name=name, **kw).token  # type: ignore[arg-type]

    tokens = {
        "key_read": key("read", scope=KeyScope.READ),
        "key_upload": key("upload"),
        "key_limited": key("limited", repositories=[repo_a2]),
        # Limited to a repository deleted below: refused everywhere, never widened (H2).
        "key_no_repos": key("no-repos", repositories=[gone]),
        "key_expired": key("expired", expires_at=now + timedelta(seconds=1)),
        "key_revoked": key("revoked"),
        "key_network": key("network", allowed_networks=[KEY_NETWORK]),
        "key_personal": key("personal", user=users["member"]),
        "key_personal_demoted": key("demoted", user=users["demoted"]),
        "key_personal_left": key("left", user=users["leaver"]),
        "key_b": key("b", org=org_b),
        # One organization upload key per management scope, holding only that one.
        **{
            f"key_{scope.value.removeprefix('manage:')}": key(
                f"scope {scope.value}", management_scopes=[scope.value]
            )
            for scope in ManagementScope
        },
        # An admin's personal key with every scope, and one of an admin since made a member.
        "key_personal_admin": key(
            "admin-all", user=users["admin"], management_scopes=ManagementScope.values
        ),
        "key_personal_demoted_admin": key(
            "demoted-admin", user=users["demoted_admin"], management_scopes=ManagementScope.values
        ),
    }
    ApiKey.objects.filter(name="revoked").update(revoked_at=now)
    gone.delete()
    # A key is never created expired (the service refuses it): this one expired since.
    ApiKey.objects.filter(name="expired").update(expires_at=now - timedelta(seconds=1))
    leaver.delete()
    demoted.role = Role.READER
    demoted.save()
    demoted_admin.role = Role.MEMBER
    demoted_admin.save()
    invitation = Invitation.objects.create(
        organization=org_a, email="invitee@acme.test", role=Role.MEMBER,
        token_hash=hashlib.sha256(INVITATION_TOKEN.encode()).hexdigest(),
        expires_at=now + timedelta(days=1),
    )  # fmt: skip
    _ready_file(repo_b, "globex-sentinel-lib")
    return World(
        org_a=org_a, org_b=org_b, repo_a=repo_a, repo_a2=repo_a2, repo_b=repo_b, users=users,
        tokens=tokens, file=_ready_file(repo_a, "acme-lib"), invitation=invitation,
        extra_membership=extra, memberships=memberships,
    )  # fmt: skip


def local_packages_storage(settings: Any, location: Path) -> None:
    """Point the packages storage at a folder the test can inspect (never S3)."""
    settings.S3_BUCKET = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "registry.storage.AtomicFileSystemStorage",
            "OPTIONS": {"location": str(location), "allow_overwrite": True},
        },
    }


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

    def post(
        self,
        upload: Upload,
        *,
        url: str | None = None,
        accept: str = "",
        headers: dict[str, str] | None = None,
        token: str | None = None,
        extra_files: dict[str, tuple[str, bytes]] | None = None,
        **meta: str,
    ) -> Any:
        """POST `upload` as twine does (with `extra_files` beside it), with the tenant's key
        unless `token` is "" (no Authorization header at all)."""
        files = {"content": (upload.filename, upload.data), **(extra_files or {})}
        body, content_type = multipart(upload.fields(), files)
        sent = dict(headers or {})
        key = self.token if token is None else token
        if key:
            basic = base64.b64encode(f"__token__:{key}".encode()).decode()
            sent["Authorization"] = f"Basic {basic}"
        if accept:
            sent["Accept"] = accept
        return self.client.generic(
            "POST", url or self.upload_url, body, content_type=content_type, headers=sent, **meta
        )


def build_tenant() -> Tenant:
    owner = User.objects.create_user("owner@acme.test")
    organization = organization_get_or_create(slug="acme", name="Acme", owner=owner)
    repository = repository_get_or_create(organization=organization, slug="main")
    key = api_key_create(organization=organization, name="ci", scope="upload")
    return Tenant(repository=repository, token=key.token, client=Client(), owner=owner)


def publish(
    repository: Repository, package: Package, *, sdist: bool = False, process: bool = True
) -> File:
    """Upload one distribution exactly as the endpoint does, and process it as the worker
    does (unless `process` is False: the file stays pending, as before a worker gets to it)."""
    data = sdist_bytes(package) if sdist else wheel_bytes(package)
    filename = sdist_filename(package) if sdist else wheel_filename(package)
    key = api_key_create(organization=repository.organization, name="up", scope="upload")
    digests = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "blake2_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
    }
    form = parse_upload_form({
        ":action": "file_upload", "name": package.name, "version": package.version,
        "filetype": "sdist" if sdist else "bdist_wheel", "pyversion": "source" if sdist else "py3",
        "sha256_digest": digests["sha256"],
    })  # fmt: skip
    file = upload_receive(
        repository=repository,
        api_key=key.api_key,
        form=form,
        content=ContentFile(data, name=filename),
        digests=digests,
    ).file
    if process:
        file_process(file_id=file.pk)
        file.refresh_from_db()
    return file


def cached_project(repository: Repository, name: str, sizes: list[int], error: str = "") -> None:
    """A proxy's copy of a project as if fetched just now, with a stored file per size (and
    the upstream's last failure, if `error`)."""
    project = CachedProject.objects.create(
        repository=repository, normalized_name=name, name=name, fetched_at=timezone.now(),
        last_error=error, last_error_at=timezone.now() if error else None,
    )  # fmt: skip
    for number, size in enumerate(sizes):
        filename = f"{name}-1.{number}-py3-none-any.whl"
        CachedFile.objects.create(
            project=project, repository=repository, filename=filename, sha256="a" * 64,
            storage_key=f"cache/{name}/{filename}", size=size,
        )  # fmt: skip


def as_user(world: World, role: str) -> Client:
    """A browser logged in as the world's user of that role."""
    client = Client(REMOTE_ADDR=random_source_ip())
    client.force_login(world.users[role])
    return client


def key_client(token: str) -> Client:
    """A client presenting an API key as pip does (Basic, `__token__`)."""
    basic = base64.b64encode(f"__token__:{token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {basic}")


def download(client: Client, url: str, *, accept: str = "*/*") -> tuple[int, bytes]:
    """The status and body of a GET (a download or a page), its file closed."""
    response = client.get(url, HTTP_ACCEPT=accept)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    # Closing fires request_finished, which would close the test's database connection;
    # the test client keeps that handler off while it runs a request, so do the same.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    return response.status_code, body
