"""Dashboard pages for webhooks: list and create (the secret shown once), a webhook with its
deliveries and their attempts, send a test event, redeliver, delete."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.models import Organization
from accounts.network import client_ip
from webhooks import selectors
from webhooks import services
from webhooks.dashboard.forms import EVENT_LABELS
from webhooks.dashboard.forms import WebhookForm
from webhooks.models import Webhook
from webhooks.selectors import RECENT_DELIVERIES

NEW_SECRET = "new_webhook_secret"  # noqa: S105 - a session key name, not a secret


def _context(request: AuthenticatedRequest, organization: Organization, **more: Any) -> Any:
    return {**org_context(request.user, organization), "event_labels": EVENT_LABELS, **more}


@never_cache
@login_required
def webhooks(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    listed = selectors.webhooks_for(actor=request.user, organization=organization)
    form = WebhookForm(
        request.POST or None, repositories=organization.repositories.order_by("slug")
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = services.webhook_create(
                actor=request.user,
                organization=organization,
                url=data["url"],
                events=data["events"],
                repository=data["repository"],
                description=data["description"],
                active=data["active"],
                source_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Shown by the next page, once (as a new key's secret is).
            request.session[NEW_SECRET] = {"id": new.webhook.pk, "secret": new.secret}
            return redirect("webhook-created", org=org)
    return render(
        request, "webhooks/list.html", _context(request, organization, webhooks=listed, form=form)
    )


@never_cache
@login_required
def webhook_created(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    selectors.webhooks_for(actor=request.user, organization=organization)  # may they at all?
    shown = request.session.pop(NEW_SECRET, None)
    if not shown:
        messages.info(request, "A webhook's secret is shown only once, when it is made.")
        return redirect("org-webhooks", org=org)
    webhook = selectors.webhook_for(
        actor=request.user, organization=organization, webhook_id=shown["id"]
    )
    response = render(
        request,
        "webhooks/created.html",
        _context(request, organization, webhook=webhook, secret=shown["secret"]),
    )
    response["Cache-Control"] = "no-store"
    return response


def _webhook(request: AuthenticatedRequest, org: str, webhook_id: int) -> Webhook:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    return selectors.webhook_for(
        actor=request.user, organization=organization, webhook_id=webhook_id
    )


@never_cache
@login_required
def webhook_detail(request: AuthenticatedRequest, org: str, webhook_id: int) -> HttpResponse:
    webhook = _webhook(request, org, webhook_id)
    organization = webhook.organization
    form = WebhookForm(
        request.POST or None,
        repositories=organization.repositories.order_by("slug"),
        editing=True,
        initial={
            "url": webhook.url,
            "events": webhook.events,
            "description": webhook.description,
            "active": webhook.active,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.webhook_update(
                actor=request.user,
                webhook=webhook,
                url=data["url"],
                events=data["events"],
                description=data["description"],
                active=data["active"],
                source_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("webhook-detail", org=org, webhook_id=webhook.pk)
    deliveries = selectors.deliveries_for(webhook=webhook)[:RECENT_DELIVERIES]
    context = _context(request, organization, webhook=webhook, form=form, deliveries=deliveries)
    return render(request, "webhooks/detail.html", context)


@login_required
@require_POST
def webhook_test(request: AuthenticatedRequest, org: str, webhook_id: int) -> HttpResponse:
    webhook = _webhook(request, org, webhook_id)
    services.webhook_test(actor=request.user, webhook=webhook, source_ip=client_ip(request))
    messages.success(request, "Test event sent; its delivery is listed below.")
    return redirect("webhook-detail", org=org, webhook_id=webhook.pk)


@login_required
@require_POST
def webhook_redeliver(
    request: AuthenticatedRequest, org: str, webhook_id: int, delivery_id: int
) -> HttpResponse:
    webhook = _webhook(request, org, webhook_id)
    delivery = selectors.delivery_for(webhook=webhook, delivery_id=delivery_id)
    services.delivery_redeliver(actor=request.user, delivery=delivery, source_ip=client_ip(request))
    messages.success(request, f"Event {delivery.event_id} sent again as a new delivery.")
    return redirect("webhook-detail", org=org, webhook_id=webhook.pk)


@login_required
@require_POST
def webhook_delete(request: AuthenticatedRequest, org: str, webhook_id: int) -> HttpResponse:
    webhook = _webhook(request, org, webhook_id)
    services.webhook_delete(actor=request.user, webhook=webhook, source_ip=client_ip(request))
    messages.success(request, f"Webhook to {webhook.url} deleted.")
    return redirect("org-webhooks", org=org)
