"""Organization quotas: how much storage its uploads take, against the operator's limit.

Storage use is the sum of the sizes of the organization's uploaded files, pending and ready
(a rejected file counts for nothing; a proxy's cache is not an upload). One aggregate query;
nothing is asked at all for an organization without a storage quota, so the upload path of
most organizations costs what it did.
"""

from __future__ import annotations

import re
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from accounts.models import ApiKey
from accounts.models import Organization
from accounts.permissions import Actor
from accounts.services import audit_record
from registry.models import File
from registry.models import FileStatus

COUNTED_STATUSES = (FileStatus.PENDING, FileStatus.READY)


class Keep:
    """An argument not given: the current value stays."""


KEEP = Keep()


def size_text(size: int) -> str:
    """A size as people read it: 1.5 GB, 200 MB, 12 KB, 3 bytes (binary units)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def storage_used(organization_id: int) -> int:
    """Bytes the organization's uploaded files take (pending and ready)."""
    total = File.objects.filter(
        repository__organization_id=organization_id, status__in=COUNTED_STATUSES
    ).aggregate(size=Sum("size"))["size"]
    return int(total or 0)


def storage_refusal(*, organization: Organization, size: int, lock: bool = False) -> str | None:
    """Why a file of `size` bytes would take the organization past its storage quota, or
    None when it fits (or there is no quota).

    With `lock`, inside the transaction that adds the file: the organization's row is locked
    first and the quota read from it, so uploads of one organization add their files one at
    a time and each counts all committed before it; concurrent uploads never overshoot."""
    quota = organization.storage_quota
    if lock:
        quota = (
            Organization.objects.select_for_update()
            .filter(pk=organization.pk)
            .values_list("storage_quota", flat=True)
            .first()
        )
    if quota is None:
        return None
    used = storage_used(organization.pk)
    if used + size <= quota:
        return None
    return (
        f"Storage quota exceeded: organization '{organization.slug}' may store "
        f"{size_text(quota)} and uses {size_text(used)}; this file is {size_text(size)}."
    )


class Quota:
    """An organization's limits and use, as its pages and the REST API show them. `None`
    limits mean none is set; `storage_used` is None for a key limited to some repositories
    (the whole organization's use would tell it of the others). The use is summed when first
    read: a page that shows the quota only when a limit is set asks nothing otherwise."""

    def __init__(self, organization: Organization, *, show_use: bool) -> None:
        self.storage_limit = organization.storage_quota
        self.file_size_limit = organization.max_file_size
        self._organization_id = organization.pk
        self._show_use = show_use

    @cached_property
    def storage_used(self) -> int | None:
        return storage_used(self._organization_id) if self._show_use else None


def quota_for(*, actor: Actor, organization: Organization) -> Quota:
    """The quota of an organization the actor may see (found through organization_for)."""
    limited = isinstance(actor, ApiKey) and not actor.all_repositories
    return Quota(organization, show_use=not limited)


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`10GB`, `200MB`, `1.5G`, `512KiB`, `1000` (bytes): binary units, as sizes are shown.
    Raises ValueError saying what is accepted."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 10GB, 200MB, 512KB or bytes)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def quota_set(
    *,
    organization: Organization,
    storage: int | Keep | None = KEEP,
    file_size: int | Keep | None = KEEP,
    via: str = "command",
) -> Organization:
    """The operator's quotas for an organization (None clears one), audited. No actor: the
    operator acts from the command line or the admin, outside any organization's roles."""
    changes: dict[str, int | None] = {}
    if not isinstance(storage, Keep):
        changes["storage_quota"] = storage
    if not isinstance(file_size, Keep):
        changes["max_file_size"] = file_size
    if any(value is not None and value <= 0 for value in changes.values()):
        raise ValidationError("A quota must be a positive size; clear it to remove the limit.")
    with transaction.atomic():
        before = {name: getattr(organization, name) for name in changes}
        for name, value in changes.items():
            setattr(organization, name, value)
        organization.save(update_fields=list(changes))
        audit_record(
            organization=organization,
            action="organization.quota",
            target=f"organization {organization.slug}",
            details={"before": before, "after": changes, "via": via},
        )
    return organization
