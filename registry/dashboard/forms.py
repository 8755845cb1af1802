"""Forms of the registry's dashboard pages: repositories, yanks, deletions, search."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from accounts.dashboard.forms import rename_help
from registry.models import DEFAULT_UPSTREAM_URL
from registry.models import ProjectStatus
from registry.models import RepositoryKind


class ConfirmForm(forms.Form):
    confirm = forms.CharField(label="Type the name to confirm", max_length=64)


class RepositoryForm(forms.Form):
    slug = forms.SlugField(max_length=64, label="Name", help_text="Part of the index URL.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


MIB = 1024 * 1024
RULES_HELP = (
    "One project per line, optionally with a version range: requests, django>=4.2,<6. "
    "A # starts a comment."
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class ProxyFields(forms.Form):
    """A proxy's settings, named as repository_create and repository_update take them."""

    upstream_url = forms.URLField(
        max_length=500,
        required=False,
        initial=DEFAULT_UPSTREAM_URL,
        assume_scheme="https",
        label="Upstream index URL",
        help_text="A PEP 503 simple index; empty means PyPI.",
    )
    upstream_username = forms.CharField(max_length=200, required=False, label="Upstream login")
    upstream_password = forms.CharField(
        max_length=500,
        required=False,
        label="Upstream password or token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored to log in to the upstream, never shown again.",
    )
    cache_ttl = forms.IntegerField(
        min_value=0,
        required=False,
        initial=600,
        label="Keep pages for (seconds)",
        help_text="How long a fetched project page is served before asking the upstream again.",
    )
    cooldown_days = forms.IntegerField(
        min_value=0,
        required=False,
        label="Cooldown (days)",
        help_text="List files only this many days after their upload upstream; empty: at once.",
    )
    snapshot_at = forms.DateTimeField(
        required=False,
        label="Snapshot (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="List nothing uploaded after this moment; empty: no snapshot.",
    )
    allow_rules = forms.CharField(
        required=False,
        label="Allow list",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"{RULES_HELP} When not empty, only these are listed.",
    )
    deny_rules = forms.CharField(
        required=False,
        label="Deny list",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"{RULES_HELP} These are never listed.",
    )
    exempt_names = forms.CharField(
        required=False,
        label="Exempt from cooldown and snapshot",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Project names, one per line (an urgent security fix, say).",
    )

    def proxy_settings(self) -> dict[str, Any]:
        """The proxy settings as the services take them; a blank password keeps the stored one."""
        data = {name: self.cleaned_data[name] for name in PROXY_FIELDS}
        if not data["upstream_password"]:
            del data["upstream_password"]
        return data


PROXY_FIELDS = tuple(ProxyFields.base_fields)


class VirtualFields(forms.Form):
    members = forms.CharField(
        required=False,
        label="Members, in order",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Hosted and proxy repository names of this organization, one per line. "
        "Pages are merged in this order.",
    )
    upload_target = forms.ChoiceField(
        required=False,
        label="Upload target",
        help_text="The hosted member uploads to this repository's URL land in.",
    )

    def __init__(self, *args: Any, hosted: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["upload_target"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "None: uploads are refused"), *((s, s) for s in hosted or [])]

    def virtual_settings(self) -> dict[str, Any]:
        return {
            "members": _lines(self.cleaned_data["members"]),
            "upload_target": self.cleaned_data["upload_target"] or None,
        }


VIRTUAL_FIELDS = tuple(VirtualFields.base_fields)


class RepositoryCreateForm(RepositoryForm, ProxyFields, VirtualFields):
    kind = forms.ChoiceField(
        choices=RepositoryKind.choices,
        initial=RepositoryKind.HOSTED,
        required=False,
        widget=forms.RadioSelect,
        help_text="Fill in the settings of the kind you choose; the others are ignored.",
    )
    field_order = ("slug", "description", "kind")

    def options(self) -> dict[str, Any]:
        """What repository_create takes: the common fields and the chosen kind's settings."""
        kind = self.cleaned_data["kind"] or RepositoryKind.HOSTED
        options = {
            "slug": self.cleaned_data["slug"],
            "description": self.cleaned_data["description"],
            "kind": kind,
        }
        if kind == RepositoryKind.PROXY:
            options |= self.proxy_settings()
        elif kind == RepositoryKind.VIRTUAL:
            options |= self.virtual_settings()
        return options


class RepositorySettingsForm(RepositoryForm):
    allow_file_deletion = forms.BooleanField(
        required=False,
        label="Allow deleting files and releases",
        help_text="Off keeps every published file for reproducible installs: releases can "
        "only be yanked. Deleted filenames can never be uploaded again either way.",
    )
    max_file_size_mib = forms.IntegerField(required=False, min_value=1, label="Largest file (MiB)")
    # Sent by the page that lists the URLs a rename changes (accounts' rename_confirm_page).
    confirm_rename = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.initial.get("slug", "")
        org = self.initial.get("org", "")
        self.fields["slug"].help_text = rename_help(f"/{org}/{current}/…")
        server = settings.MAX_UPLOAD_SIZE // MIB
        field = self.fields["max_file_size_mib"]
        assert isinstance(field, forms.IntegerField)
        field.max_value = server
        field.validators.append(MaxValueValidator(server))
        field.widget.attrs["max"] = server
        field.help_text = f"Uploads above this are refused. Empty means the server's {server} MiB."

    def renames(self) -> bool:
        return self.cleaned_data.get("slug") not in (None, self.initial.get("slug"))

    def confirmed(self) -> bool:
        return bool(self.cleaned_data.get("confirm_rename"))

    def policies(self) -> dict[str, Any]:
        """The cleaned data as repository_update takes it: sizes in bytes."""
        data = {name: self.cleaned_data[name] for name in RepositorySettingsForm.base_fields}
        data.pop("confirm_rename")
        mib = data.pop("max_file_size_mib")
        return {**data, "max_file_size": mib * MIB if mib else None}


class ProxySettingsForm(RepositorySettingsForm, ProxyFields):
    clear_upstream_password = forms.BooleanField(
        required=False,
        label="Forget the stored upstream password",
        help_text="A blank password field keeps the stored one.",
    )

    def policies(self) -> dict[str, Any]:
        data = super().policies() | self.proxy_settings()
        if self.cleaned_data["clear_upstream_password"] and "upstream_password" not in data:
            data["upstream_password"] = ""
        return data


class VirtualSettingsForm(RepositorySettingsForm, VirtualFields):
    def policies(self) -> dict[str, Any]:
        return super().policies() | self.virtual_settings()


class UpstreamOverrideForm(forms.Form):
    name = forms.CharField(max_length=200, label="Project name")
    reason = forms.CharField(
        max_length=1000, required=False, help_text="Why, for the audit log and your team."
    )


class YankForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        help_text="Shown to installers that still resolve this release (PEP 592).",
    )


class ProjectStatusForm(forms.Form):
    status = forms.ChoiceField(choices=ProjectStatus.choices, initial=ProjectStatus.ACTIVE)
    reason = forms.CharField(
        max_length=500,
        required=False,
        help_text="Installers that read PEP 792 show it; it goes to the audit log too.",
    )


class ProjectSearchForm(forms.Form):
    q = forms.CharField(label="Search projects", max_length=200, required=False)
