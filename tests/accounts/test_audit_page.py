"""The audit log page: actions in words, keys by name, pages of 50 keeping the filters, and
a CSV of every filtered event that a spreadsheet cannot take for formulas."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.services import audit_record
from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db

AUDIT = "/orgs/acme/audit/"


def text(response: Any) -> str:
    return response.content.decode()


def test_it_names_actions_in_words_and_keys_by_their_names(world: World) -> None:
    key = ApiKey.objects.get(name="upload")
    audit_record(organization=world.org_a, action="file.upload", actor=key, target="file x")
    page = text(as_user(world, "admin").get(AUDIT))
    assert "File uploaded<br><code>file.upload</code>" in page
    assert "key “upload”" in page
    assert "API key created<br><code>api_key.create</code>" in page
    # The filter offers the same words.
    assert '<option value="api_key.create">API key created</option>' in page


def test_it_pages_the_log_and_keeps_the_filters(world: World) -> None:
    for i in range(60):
        audit_record(organization=world.org_a, action="repository.purge", target=f"r{i:02}")
    admin = as_user(world, "admin")
    first = text(admin.get(AUDIT, {"action": "repository.purge"}))
    assert "60 events match these filters." in first
    assert "Page 1 of 2" in first
    assert 'href="?action=repository.purge&amp;page=2" rel="next"' in first
    assert ">r59<" in first
    assert ">r00<" not in first
    assert ">r00<" in text(admin.get(AUDIT, {"action": "repository.purge", "page": "2"}))


def test_it_says_when_a_date_is_not_one(world: World) -> None:
    page = text(as_user(world, "admin").get(AUDIT, {"since": "31/01/2026"}))
    assert "Dates look like 2026-01-31." in page


def test_it_exports_the_filtered_log_as_csv_without_formulas(world: World) -> None:
    audit_record(
        organization=world.org_a,
        action="release.yank",
        target="release acme/main/acme-lib 1.0",
        details={"reason": '=HYPERLINK("http://evil.example")'},
    )
    admin = as_user(world, "admin")
    assert 'href="/orgs/acme/audit.csv?action=release.yank"' in text(
        admin.get(AUDIT, {"action": "release.yank"})
    )
    response = admin.get("/orgs/acme/audit.csv", {"action": "release.yank"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="audit-acme.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "time_utc",
        "actor",
        "action",
        "action_label",
        "target",
        "source_ip",
        "details",
    ]
    assert len(rows) == 2
    assert rows[1][2:5] == ["release.yank", "Release yanked", "release acme/main/acme-lib 1.0"]
    assert rows[1][6] == 'reason==HYPERLINK("http://evil.example")'
    everything = admin.get("/orgs/acme/audit.csv")
    assert (
        len(everything.content.decode().splitlines())
        == AuditEvent.objects.filter(organization=world.org_a).count() + 1
    )


def test_it_exports_nothing_to_members(world: World) -> None:
    assert as_user(world, "member").get("/orgs/acme/audit.csv").status_code == 403
