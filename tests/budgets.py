"""One tenant with `n` of everything a list shows, for the query-budget tests.

Every list item has its own related rows (its own user, key, release, repository...), so a
lookup made per item, instead of once for the page, shows as a query count growing with `n`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import Invitation
from accounts.models import KeyScope
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_create
from registry.models import File
from registry.models import FileStatus
from registry.models import PackageType
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.names import normalize_version
from registry.services import repository_get_or_create
from tests.world import random_source_ip

ORG = "budget"
REPO = "main"
PROJECT = "lib"
# The release of PROJECT that holds n files; PROJECT has n releases.
VERSION = "1.0"


@dataclass
class BudgetTenant:
    n: int
    owner: User
    organization: Organization
    repository: Repository
    token: str
    file: File


def _file(release: Release, repository: Repository, filename: str, key: ApiKey) -> File:
    data = filename.encode()
    sha256 = hashlib.sha256(data).hexdigest()
    blake = hashlib.blake2b(data, digest_size=32).hexdigest()
    return File.objects.create(
        release=release, repository=repository, filename=filename,
        packagetype=PackageType.WHEEL, python_version="py3", size=len(data), sha256=sha256,
        blake2_256=blake, md5="0" * 32, storage_key=f"repositories/{repository.pk}/{blake}/x",
        status=FileStatus.READY, uploaded_by=key,
    )  # fmt: skip


def build_budget_tenant(n: int) -> BudgetTenant:
    """Organization `budget`: its owner in n organizations, n more members with a personal
    key each (each limited to its own repository), n pending invitations, n + 1 repositories;
    in `main`: n projects of one file each, and project `lib` with n releases, the first of
    which has n files. Audit events grow with all of it."""
    owner = User.objects.create_user("owner@budget.test")
    organization = organization_create(slug=ORG, name="Budget", creator=owner)
    for i in range(1, n):
        organization_create(slug=f"{ORG}-{i}", name=f"Budget {i}", creator=owner)
    repository = repository_get_or_create(organization=organization, slug=REPO)
    now = timezone.now()
    keys = []
    for i in range(n):
        member = User.objects.create_user(f"member{i}@budget.test")
        Membership.objects.create(user=member, organization=organization, role=Role.MEMBER)
        limited_to = repository_get_or_create(organization=organization, slug=f"repo-{i}")
        new = api_key_create(
            organization=organization, name=f"personal {i}", scope=KeyScope.UPLOAD,
            user=member, created_by=member, repositories=[limited_to, repository],
        )  # fmt: skip
        keys.append(new.api_key)
        Invitation.objects.create(
            organization=organization, email=f"invitee{i}@budget.test", role=Role.READER,
            token_hash=hashlib.sha256(f"budget-invitation-{i}".encode()).hexdigest(),
            invited_by=member, expires_at=now + timedelta(days=1),
        )  # fmt: skip
    token = api_key_create(organization=organization, name="ci", scope=KeyScope.UPLOAD).token
    lib = Project.objects.create(repository=repository, name=PROJECT, normalized_name=PROJECT)
    releases = [
        Release.objects.create(
            project=lib, version=f"1.{i}", canonical_version=normalize_version(f"1.{i}")
        )
        for i in range(n)
    ]
    first = None
    for i, key in enumerate(keys):
        file = _file(releases[0], repository, f"lib-1.0-py3{i}-none-any.whl", key)
        first = first or file
        name = f"proj-{i}"
        project = Project.objects.create(repository=repository, name=name, normalized_name=name)
        release = Release.objects.create(project=project, version="1.0", canonical_version="1")
        _file(release, repository, f"proj_{i}-1.0-py3-none-any.whl", key)
    assert first is not None
    return BudgetTenant(n, owner, organization, repository, token, first)


def session_client(tenant: BudgetTenant) -> Client:
    client = Client(REMOTE_ADDR=random_source_ip())
    client.force_login(tenant.owner)
    return client


def key_client(tenant: BudgetTenant) -> Client:
    return Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=f"Bearer {tenant.token}")
