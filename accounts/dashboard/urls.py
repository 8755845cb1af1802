"""Routes for people: account pages under accounts/; organizations, members, keys and the
audit log under orgs/. (Repositories and packages: registry.dashboard.urls.)"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path
from django.urls import reverse_lazy
from django.views.generic import TemplateView

from accounts.dashboard import audit
from accounts.dashboard import keys as views_keys
from accounts.dashboard import views
from accounts.dashboard.forms import PublicPasswordResetForm

T = "accounts/"
org = "orgs/<slug:org>"

account_patterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/signup/sent/",
        TemplateView.as_view(
            template_name=f"{T}message.html",
            extra_context={
                "title": "Check your email",
                "text": "We sent a link to that address. Open it to choose your password and "
                "finish signing up (or to log in, if the address already has an account).",
            },
        ),
        name="signup-sent",
    ),
    path("accounts/signup/<uidb64>/<token>/", views.signup_activate, name="signup-activate"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name=f"{T}form.html",
            extra_context={"title": "Change password", "submit": "Change password"},
        ),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name=f"{T}message.html",
            extra_context={"title": "Password changed", "text": "Your password was changed."},
        ),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name=f"{T}form.html",
            email_template_name=f"{T}email/password_reset.txt",
            subject_template_name=f"{T}email/password_reset_subject.txt",
            form_class=PublicPasswordResetForm,
            extra_context={
                "title": "Reset your password",
                "submit": "Send reset link",
                "intro": "We will email you a link to choose a new password.",
            },
        ),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name=f"{T}message.html",
            extra_context={
                "title": "Check your email",
                "text": "If an account uses that address, a reset link is on its way.",
            },
        ),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name=f"{T}password_reset_confirm.html",
            success_url=reverse_lazy("password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name=f"{T}message.html",
            extra_context={"title": "Password reset", "text": "You can log in now."},
        ),
        name="password_reset_complete",
    ),
    path("accounts/invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
]

dashboard_patterns = [
    path("", views.home, name="home"),
    path("orgs/", views.org_list, name="org-list"),
    path("orgs/new/", views.org_create, name="org-create"),
    path(f"{org}/settings/", views.org_settings, name="org-settings"),
    path(f"{org}/members/", views.members, name="org-members"),
    path(f"{org}/members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path(f"{org}/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path(
        f"{org}/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(f"{org}/keys/", views_keys.keys, name="org-keys"),
    path(f"{org}/keys/new/", views_keys.key_created, name="key-created"),
    path(f"{org}/keys/<str:public_id>/revoke/", views_keys.key_revoke, name="key-revoke"),
    path(f"{org}/keys/<str:public_id>/rotate/", views_keys.key_rotate, name="key-rotate"),
    path(f"{org}/audit/", audit.audit_log, name="org-audit"),
    path(f"{org}/audit.csv", audit.audit_csv, name="org-audit-csv"),
]

urlpatterns = account_patterns + dashboard_patterns
