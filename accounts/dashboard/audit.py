"""The audit log page and its CSV export: events in words a person reads, keys by name,
pages of 50, and every filtered event as a spreadsheet."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render

from accounts import selectors
from accounts.dashboard.forms import AuditFilterForm
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.models import AuditEvent
from accounts.models import Organization

AUDIT_PAGE_SIZE = 50
# What each recorded action means, in the words the page shows; the code stays beside it
# (filters, the API and the CSV use the code).
ACTION_LABELS = {
    "api_key.create": "API key created",
    "api_key.refused": "API key refused",
    "api_key.revoke": "API key revoked",
    "api_key.rotate": "API key rotated",
    "file.delete": "File deleted",
    "file.reject": "Upload rejected",
    "file.upload": "File uploaded",
    "invitation.create": "Invitation sent",
    "invitation.revoke": "Invitation revoked",
    "membership.add": "Member added",
    "membership.join": "Invitation accepted",
    "membership.leave": "Member left or removed",
    "membership.role_change": "Role changed",
    "organization.create": "Organization created",
    "organization.delete": "Organization deleted",
    "organization.update": "Organization settings changed",
    "project.status": "Project status changed",
    "release.delete": "Release deleted",
    "release.unyank": "Release unyanked",
    "release.yank": "Release yanked",
    "repository.create": "Repository created",
    "repository.delete": "Repository deleted",
    "repository.purge": "Proxy cache purged",
    "repository.update": "Repository settings changed",
    "repository.upstream_allow": "Upstream name allowed",
    "repository.upstream_deny": "Upstream name denied",
    "retention.apply": "Retention policy applied",
    "retention.set": "Retention policy set",
}
CSV_COLUMNS = ["time_utc", "actor", "action", "action_label", "target", "source_ip", "details"]


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def _filtered(
    request: AuthenticatedRequest, organization: Organization
) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    actions = selectors.audit_actions(organization=organization)
    form = AuditFilterForm(request.GET or None, actions=actions, labels=ACTION_LABELS)
    events = selectors.audit_events_filtered(
        organization=organization, actor=request.user, **form.filters()
    )
    return form, events.select_related("actor_api_key", "actor_user")


@login_required
def audit_log(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    form, events = _filtered(request, organization)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        **org_context(request.user, organization),
        "form": form,
        "filtered": any(form.filters().values()),
        "rows": [(event, action_label(event.action)) for event in page.object_list],
        "page_obj": page,
        "query": query.urlencode(),
    }
    return render(request, "accounts/audit.html", context)


@login_required
def audit_csv(request: AuthenticatedRequest, org: str) -> HttpResponse:
    """Every event the filters select, newest first, as CSV."""
    organization = selectors.organization_for(actor=request.user, slug=org)
    _, events = _filtered(request, organization)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{organization.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        writer.writerow(
            _cell(value)
            for value in (
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.actor_label or "system",
                event.action,
                action_label(event.action),
                event.target,
                event.source_ip or "",
                ", ".join(f"{k}={v}" for k, v in sorted(event.details.items())),
            )
        )
    return response


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: names and reasons come from
    # users, so they are shown as text (OWASP's CSV injection advice).
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value
