from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import BaseUserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.utils import timezone

from accounts.models import KeyScope
from accounts.models import Role
from accounts.models import User
from accounts.validators import validate_networks


class SignupForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email address already exists.")
        return email


class OrganizationForm(forms.Form):
    slug = forms.SlugField(
        max_length=64, help_text="Lowercase letters, digits and hyphens; part of index URLs."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Shown in the dashboard.")


class ConfirmForm(forms.Form):
    confirm = forms.CharField(label="Type the name to confirm", max_length=64)


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class RepositoryForm(forms.Form):
    slug = forms.SlugField(max_length=64, label="Name", help_text="Part of the index URL.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=KeyScope.choices, initial=KeyScope.READ)
    personal = forms.BooleanField(
        required=False,
        help_text="Acts as you: stops working if you leave or your role no longer allows it.",
    )
    repositories = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None selected means every repository.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Empty means it never expires."
    )
    allowed_networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="CIDR networks, one per line or comma separated; empty means anywhere.",
    )

    def __init__(self, *args: Any, repositories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["repositories"].queryset = repositories

    def clean_allowed_networks(self) -> list[str]:
        raw = self.cleaned_data["allowed_networks"].replace(",", "\n")
        networks = [line.strip() for line in raw.splitlines() if line.strip()]
        validate_networks(networks)
        return networks

    def expires_at(self) -> Any:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


MIB = 1024 * 1024


class RepositorySettingsForm(RepositoryForm):
    allow_file_deletion = forms.BooleanField(
        required=False,
        label="Allow deleting files and releases",
        help_text="Off keeps every published file for reproducible installs: releases can "
        "only be yanked. Deleted filenames can never be uploaded again either way.",
    )
    max_file_size_mib = forms.IntegerField(required=False, min_value=1, label="Largest file (MiB)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        server = settings.MAX_UPLOAD_SIZE // MIB
        field = self.fields["max_file_size_mib"]
        field.max_value = server
        field.validators.append(MaxValueValidator(server))
        field.widget.attrs["max"] = server
        field.help_text = f"Uploads above this are refused. Empty means the server's {server} MiB."

    def policies(self) -> dict[str, Any]:
        """The cleaned data as repository_update takes it: sizes in bytes."""
        data = dict(self.cleaned_data)
        mib = data.pop("max_file_size_mib")
        return {**data, "max_file_size": mib * MIB if mib else None}


class YankForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        help_text="Shown to installers that still resolve this release (PEP 592).",
    )


class ProjectSearchForm(forms.Form):
    q = forms.CharField(label="Search projects", max_length=200, required=False)


class AuditFilterForm(forms.Form):
    who = forms.CharField(label="Actor", max_length=200, required=False)
    action = forms.ChoiceField(label="Action", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *((a, a) for a in actions)]

    def filters(self) -> dict[str, Any]:
        """The service's keyword filters; dates are whole UTC days, `until` inclusive."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        day = timedelta(days=1)
        return {
            "by": data["who"].strip(),
            "action": data["action"],
            "since": _midnight(data["since"]),
            "until": _midnight(data["until"] + day) if data["until"] else None,
        }


def _midnight(day: Any) -> Any:
    if day is None:
        return None
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
