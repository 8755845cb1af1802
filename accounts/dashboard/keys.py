"""Dashboard pages for API keys: list, create, revoke, rotate. A secret is shown once."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts import services
from accounts.dashboard.forms import ApiKeyForm
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.models import Organization
from accounts.network import client_ip
from accounts.permissions import ROLE_KEY_SCOPES
from accounts.permissions import Action
from accounts.permissions import can
from accounts.permissions import grantable_scopes
from accounts.permissions import role_of
from accounts.services import NewApiKey

# The secret travels from the POST that made it to the one GET that shows it in the session,
# and is dropped there: a reload shows no secret and, unlike re-posting, makes no second key.
NEW_SECRET = "new_api_key"  # noqa: S105 - a session key name, not a secret


def _to_secret(
    request: AuthenticatedRequest, organization: Organization, new: NewApiKey
) -> HttpResponse:
    request.session[NEW_SECRET] = {"public_id": new.api_key.public_id, "token": new.token}
    return redirect("key-created", org=organization.slug)


@never_cache
@login_required
def key_created(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    shown = request.session.pop(NEW_SECRET, None)
    if not shown:
        messages.info(
            request, "A key's secret is shown only once. Rotate the key to get a new secret."
        )
        return redirect("org-keys", org=org)
    api_key = selectors.api_key_for(
        actor=request.user, organization=organization, public_id=shown["public_id"]
    )
    return _show_secret(request, organization, NewApiKey(api_key=api_key, token=shown["token"]))


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
    can_manage_keys = can(request.user, Action.MANAGE_KEYS, organization)
    role = role_of(request.user, organization)
    form = ApiKeyForm(
        request.POST or None,
        repositories=organization.repositories.order_by("slug"),
        scopes=None if can_manage_keys or role is None else ROLE_KEY_SCOPES[role],
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
                personal=form.is_personal(),
                repositories=form.limited_to(),
                expires_at=form.expires_at(),
                allowed_networks=data["allowed_networks"],
                source_ip=client_ip(request),
            )
        except (ValidationError, PermissionDenied) as exc:
            # A refusal reads as a form error beside what was typed, not a bare 403 page.
            form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))
        else:
            return _to_secret(request, organization, new)
    context = {
        **org_context(request.user, organization),
        "keys": selectors.api_keys_for(actor=request.user, organization=organization),
        "form": form,
        "can_manage_keys": can_manage_keys,
        "now": timezone.now(),
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
    return _to_secret(request, organization, new)
