"""Plain server-rendered pages for people: sign-up, log-in, organizations, members, keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.forms import Form
from django.http import HttpRequest
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts import services
from accounts.authentication import LOGIN_THROTTLED_MESSAGE
from accounts.authentication import login_failure
from accounts.authentication import login_retry_after
from accounts.dashboard.forms import InviteForm
from accounts.dashboard.forms import OrganizationForm
from accounts.dashboard.forms import OrganizationSettingsForm
from accounts.dashboard.forms import RoleForm
from accounts.dashboard.forms import SignupForm
from accounts.dashboard.http import AuthenticatedRequest
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import can
from accounts.permissions import require
from core.http import error_response
from core.http import too_many_attempts_response

T = TypeVar("T")
# The newest events the audit page shows; filters narrow down to older ones.


def form_page(request: HttpRequest, form: BaseForm, title: str, **extra: Any) -> HttpResponse:
    return render(request, "accounts/form.html", {"form": form, "title": title, **extra})


def org_context(user: Actor, organization: Organization) -> dict[str, Any]:
    """The organization and what the user may do in it, for the pages' navigation."""
    return {
        "organization": organization,
        "can_manage_repositories": can(user, Action.MANAGE_REPOSITORIES, organization),
        "can_manage_settings": can(user, Action.MANAGE_SETTINGS, organization),
        "can_view_audit": can(user, Action.VIEW_AUDIT, organization),
        "can_manage_webhooks": can(user, Action.MANAGE_WEBHOOKS, organization),
        "can_delete": can(user, Action.DELETE_ORGANIZATION, organization),
    }


def _apply(form: Form, call: Callable[[], T]) -> T | None:
    """Run a service; its validation errors become form errors and the result None."""
    try:
        return call()
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


# People -----------------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return redirect("org-list" if request.user.is_authenticated else "login")


def _safe_next(request: HttpRequest) -> str:
    """Where to go after signing up, e.g. back to an invitation; only this site's pages."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.signup_request(
            email=form.cleaned_data["email"],
            name=form.cleaned_data["name"],
            next_url=_safe_next(request),
        )
        # The same answer whether or not the address has an account (no existence oracle).
        return redirect("signup-sent")
    return form_page(
        request,
        form,
        "Create an account",
        submit="Sign up",
        next=_safe_next(request),
        intro="Host your team's private Python packages. We email you a link to choose "
        "your password.",
    )


def signup_activate(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The emailed sign-up link: choose a password, and the account is open."""
    user = services.signup_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/signup_activate.html", {"validlink": False}, status=410)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.signup_complete(user=user, password=form.cleaned_data["new_password1"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to Wheelhouse: your account is ready.")
        return redirect(_safe_next(request) or "org-list")
    context = {"validlink": True, "form": form, "email": user.email, "next": _safe_next(request)}
    return render(request, "accounts/signup_activate.html", context)


class LoginView(auth_views.LoginView):
    """Django's log-in, with failed attempts counted per account and per source address
    (accounts.authentication; the admin site's log-in counts into the same counters)."""

    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = request.POST.get("username", "")
        retry_after = login_retry_after(email=email, source_ip=client_ip(request))
        if retry_after is not None:
            return too_many_attempts_response(LOGIN_THROTTLED_MESSAGE, retry_after)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        email = self.request.POST.get("username", "")
        login_failure(email=email, source_ip=client_ip(self.request))
        return super().form_invalid(form)


# Organizations ----------------------------------------------------------------------------------


@login_required
def org_list(request: AuthenticatedRequest) -> HttpResponse:
    memberships = selectors.memberships_for_user(user=request.user)
    return render(request, "accounts/org_list.html", {"memberships": memberships})


@login_required
def org_create(request: AuthenticatedRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = _apply(
            form,
            lambda: services.organization_create(
                creator=request.user, source_ip=client_ip(request), **form.cleaned_data
            ),
        )
        if organization is not None:
            messages.success(request, f"Organization {organization.slug} created.")
            return redirect("org-detail", org=organization.slug)
    return form_page(request, form, "New organization", submit="Create")


@login_required
def org_settings(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = selectors.organization_for(
        actor=request.user, slug=org, action=Action.MANAGE_SETTINGS
    )
    initial = {"slug": organization.slug, "name": organization.name}
    form = OrganizationSettingsForm(
        request.POST or None, initial=initial, current_slug=organization.slug
    )
    if request.method == "POST" and form.is_valid():
        if form.renames() and not form.confirmed():
            new = form.cleaned_data["slug"]
            return rename_confirm_page(
                request,
                title=f"Rename {organization.slug} to {new}?",
                what="organization",
                roots=(f"/{organization.slug}/<repository>/", f"/{new}/<repository>/"),
                back=reverse("org-settings", kwargs={"org": organization.slug}),
                **org_context(request.user, organization),
            )
        done = _apply(
            form,
            lambda: services.organization_update(
                organization=organization,
                actor=request.user,
                source_ip=client_ip(request),
                **form.changes(),
            ),
        )
        if done is not None:
            saved = renamed_message(org) if form.renames() else "Organization saved."
            messages.success(request, saved)
            return redirect("org-detail", org=organization.slug)
    return form_page(
        request,
        form,
        f"Settings of {organization.name}",
        submit="Save",
        **org_context(request.user, organization),
        danger_url=reverse("org-delete", kwargs={"org": organization.slug})
        if can(request.user, Action.DELETE_ORGANIZATION, organization)
        else None,
        danger_label="Delete this organization",
    )


def rename_confirm_page(
    request: HttpRequest,
    *,
    title: str,
    what: str,
    roots: tuple[str, str],
    back: str,
    **extra: Any,
) -> HttpResponse:
    """What a rename changes, asked before it is done: the index and upload URLs under the
    old and new `roots` (paths under PUBLIC_URL), and until when the old ones answer.
    Confirming posts the same form again, with `confirm_rename`; the rename then redirects
    (nothing renamed by a reload)."""
    skip = {"csrfmiddlewaretoken", "confirm_rename"}
    fields = [(k, v) for k, v in request.POST.lists() if k not in skip]
    base = settings.PUBLIC_URL.rstrip("/")
    context = {
        "title": title,
        "what": what,
        "urls": [
            (label, f"{base}{roots[0]}{tail}", f"{base}{roots[1]}{tail}")
            for label, tail in (("Index URL", "simple/"), ("Upload URL", "legacy/"))
        ],
        "until": services.alias_expiry(),
        "days": settings.SLUG_ALIAS_DAYS,
        "fields": fields,
        "back": back,
        **extra,
    }
    return render(request, "accounts/rename_confirm.html", context)


def renamed_message(former: str) -> str:
    until = services.alias_expiry()
    return (
        f"Renamed. The old URLs (/{former}/…) keep answering until {until:%B} {until.day}, "
        f"{until.year}: update pip, uv, twine and CI configurations before then."
    )


# Members and invitations ------------------------------------------------------------------------


@login_required
def members(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        # Refused before the form is even read (invitation_create checks again, in memory).
        require(request.user, Action.MANAGE_MEMBERS, organization)
        if form.is_valid():
            invited = _apply(
                form,
                lambda: services.invitation_create(
                    organization=organization,
                    actor=request.user,
                    base_url=settings.PUBLIC_URL,
                    source_ip=client_ip(request),
                    **form.cleaned_data,
                ),
            )
            if invited is not None:
                messages.success(request, f"Invitation sent to {invited.invitation.email}.")
                if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
                    # No mail server: the link goes to the files under DATA_DIR/mail, which
                    # the inviter may not read; they can pass this one on themselves.
                    messages.info(
                        request,
                        "Email is not set up here (EMAIL_URL), so nothing was delivered. "
                        f"Send this link yourself: {invited.url}",
                    )
                return redirect("org-members", org=org)
    can_manage = can(request.user, Action.MANAGE_MEMBERS, organization)
    context = {
        **org_context(request.user, organization),
        "members": selectors.members_of(organization=organization),
        "invitations": selectors.pending_invitations(organization=organization)
        if can_manage
        else [],
        "form": form,
        "can_manage": can_manage,
        "roles": Role.choices,
    }
    return render(request, "accounts/members.html", context)


def _membership(request: AuthenticatedRequest, org: str, membership_id: int) -> Membership:
    organization = selectors.organization_for(actor=request.user, slug=org)
    return selectors.member_by_id(organization=organization, membership_id=membership_id)


def _after_member_change(
    request: AuthenticatedRequest, org: str, error: ValidationError | None
) -> HttpResponse:
    if error is not None:
        messages.error(request, " ".join(error.messages))
    if selectors.memberships_for_user(user=request.user).filter(organization__slug=org).exists():
        return redirect("org-members", org=org)
    return redirect("org-list")


@login_required
@require_POST
def member_role(request: AuthenticatedRequest, org: str, membership_id: int) -> HttpResponse:
    membership = _membership(request, org, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return error_response(400, "Choose a valid role.")
    try:
        services.membership_set_role(
            membership=membership,
            role=form.cleaned_data["role"],
            actor=request.user,
            source_ip=client_ip(request),
        )
    except ValidationError as exc:
        return _after_member_change(request, org, exc)
    messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    return _after_member_change(request, org, None)


@login_required
@require_POST
def member_remove(request: AuthenticatedRequest, org: str, membership_id: int) -> HttpResponse:
    membership = _membership(request, org, membership_id)
    try:
        services.membership_remove(
            membership=membership, actor=request.user, source_ip=client_ip(request)
        )
    except ValidationError as exc:
        return _after_member_change(request, org, exc)
    messages.success(request, f"{membership.user.email} is no longer a member.")
    return _after_member_change(request, org, None)


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedRequest, org: str, invitation_id: int) -> HttpResponse:
    organization = selectors.organization_for(actor=request.user, slug=org)
    invitation = selectors.pending_invitation_by_id(
        organization=organization, invitation_id=invitation_id
    )
    services.invitation_revoke(
        invitation=invitation, actor=request.user, source_ip=client_ip(request)
    )
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("org-members", org=org)


def invitation_accept(request: AuthenticatedRequest, token: str) -> HttpResponse:
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return render(request, "accounts/invitation.html", {"missing": True}, status=404)
    context = {"invitation": invitation, "expired": invitation.is_expired}
    if invitation.is_expired:
        return render(request, "accounts/invitation.html", context, status=410)
    if not request.user.is_authenticated:
        # Whoever holds the link sees what it is for, then logs in or signs up and returns.
        context["anonymous"] = True
        return render(request, "accounts/invitation.html", context)
    if request.method == "POST":
        try:
            services.invitation_accept(
                invitation=invitation, user=request.user, source_ip=client_ip(request)
            )
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            return render(request, "accounts/invitation.html", context, status=410)
        messages.success(request, f"Welcome to {invitation.organization.name}.")
        return redirect("org-detail", org=invitation.organization.slug)
    return render(request, "accounts/invitation.html", context)
