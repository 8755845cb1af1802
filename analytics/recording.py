"""Counters flushed by core.downloads, added to the daily rows: one UPDATE per distinct file
and client a process saw since its last flush (an INSERT the first time that day)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError
from django.db import transaction
from django.db.models import DateTimeField
from django.db.models import F
from django.db.models import Value
from django.db.models.functions import Greatest

from analytics.models import DailyDownloads
from analytics.useragents import parse
from core.downloads import Counter
from core.downloads import Tally
from registry.models import Repository
from registry.names import distribution_of

METADATA_SUFFIX = ".metadata"


def add_counters(taken: dict[Counter, Tally]) -> None:
    # Counters of a repository deleted since are dropped here: foreign keys are checked only
    # at commit, where a missing one would fail the whole flush.
    ids = {counter.repository_id for counter in taken}
    live = set(Repository.objects.filter(pk__in=ids).values_list("pk", flat=True))
    rows: dict[tuple[tuple[str, Any], ...], list[Any]] = {}
    for counter, tally in taken.items():
        if counter.repository_id not in live:
            continue
        fields = tuple(_fields(counter).items())
        last_at = dt.datetime.fromtimestamp(tally.last_at, tz=dt.UTC)
        row = rows.setdefault(fields, [0, last_at])
        row[0] += tally.count
        row[1] = max(row[1], last_at)
    for fields, (count, last_at) in rows.items():
        _add(dict(fields), count, last_at)


def _fields(counter: Counter) -> dict[str, Any]:
    metadata = counter.filename.endswith(METADATA_SUFFIX)
    filename = counter.filename.removesuffix(METADATA_SUFFIX)
    found = distribution_of(filename)
    client = parse(counter.user_agent)
    return {
        "day": dt.date(1970, 1, 1) + dt.timedelta(days=counter.day),
        "organization_id": counter.organization_id,
        "repository_id": counter.repository_id,
        "project": found[0] if found else "",
        "version": found[1] if found else "",
        "filename": filename[:255],
        "metadata": metadata,
        "key_id": counter.key_id,
        "installer": client.installer,
        "installer_version": client.installer_version,
        "python": client.python,
        "implementation": client.implementation,
        "system": client.system,
        "cpu": client.cpu,
    }


def _add(fields: dict[str, Any], count: int, last_at: dt.datetime) -> None:
    # The file names its project and version; the repository its organization.
    unique = {k: v for k, v in fields.items() if k not in {"organization_id", "project", "version"}}
    rows = DailyDownloads.objects.filter(**unique)
    change = {
        "count": F("count") + count,
        "last_at": Greatest("last_at", Value(last_at, output_field=DateTimeField())),
    }
    if rows.update(**change):
        return
    try:
        with transaction.atomic():
            DailyDownloads.objects.create(**fields, count=count, last_at=last_at)
    except IntegrityError:
        # Another process made the row first (or the repository is gone: nothing to add to).
        rows.update(**change)
