"""Dashboard pages for API keys: list, create, revoke, rotate. A secret is shown once."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts import services
from accounts.dashboard.forms import ApiKeyForm
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.models import Organization
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import can
from accounts.permissions import grantable_scopes
from accounts.services import NewApiKey


def _show_secret(
    request: AuthenticatedRequest, organization: Organization, new: NewApiKey
) -> HttpResponse:
    context = {
        **org_context(request.user, organization),
        "new": new,
        "repositories": (
            organization.repositories.order_by("slug")
            if new.api_key.all_repositories
            else new.api_key.repositories.order_by("slug")
        ),
        "base_url": settings.PUBLIC_URL,
    }
    response = render(request, "accounts/key_created.html", context)
    # The only time the secret exists outside the client: never let a cache keep it.
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
def keys(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    form = ApiKeyForm(
        request.POST or None,
        repositories=organization.repositories.order_by("slug"),
        grantable=grantable_scopes(request.user, organization),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = services.api_key_issue(
                actor=request.user,
                organization=organization,
                name=data["name"],
                scope=data["scope"],
                management_scopes=data.get("management_scopes", []),
                personal=data["personal"],
                repositories=form.limited_to(),
                expires_at=form.expires_at(),
                allowed_networks=data["allowed_networks"],
                source_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _show_secret(request, organization, new)
    context = {
        **org_context(request.user, organization),
        "keys": selectors.api_keys_for(actor=request.user, organization=organization),
        "form": form,
        "can_manage_keys": can(request.user, Action.MANAGE_KEYS, organization),
    }
    return render(request, "accounts/keys.html", context)


@login_required
@require_POST
def key_revoke(request: AuthenticatedRequest, org: str, public_id: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    api_key = selectors.api_key_for(
        actor=request.user, organization=organization, public_id=public_id
    )
    services.api_key_revoke(api_key=api_key, actor=request.user, source_ip=client_ip(request))
    messages.success(request, f"Key {api_key.name} revoked: it no longer works anywhere.")
    return redirect("org-keys", org=org)


@never_cache
@login_required
@require_POST
def key_rotate(request: AuthenticatedRequest, org: str, public_id: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    api_key = selectors.api_key_for(
        actor=request.user, organization=organization, public_id=public_id
    )
    try:
        new = services.api_key_rotate(
            api_key=api_key, actor=request.user, source_ip=client_ip(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("org-keys", org=org)
    return _show_secret(request, organization, new)
