from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db.models import Model
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Role
from accounts.permissions import RepositoryRef
from accounts.validators import validate_networks


class SignupForm(forms.Form):
    """Only who is signing up: the password is chosen from the emailed link, and nothing
    here may say whether the address already has an account."""

    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=150, required=False)


class PublicPasswordResetForm(PasswordResetForm):
    """Reset links name PUBLIC_URL's host, never the Host the request claimed."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        public = urlsplit(settings.PUBLIC_URL)
        kwargs.update(domain_override=public.netloc, use_https=public.scheme == "https")
        super().save(*args, **kwargs)


class OrganizationForm(forms.Form):
    slug = forms.SlugField(
        max_length=64, help_text="Lowercase letters, digits and hyphens; part of index URLs."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Shown in the dashboard.")


class OrganizationSettingsForm(OrganizationForm):
    """A rename changes every configured client's URLs, so it is never a side effect of
    saving: the page lists what changes and asks first (`confirm_rename`, sent by that page)."""

    confirm_rename = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, current_slug: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_slug = current_slug
        self.fields["slug"].help_text = rename_help(f"/{current_slug}/…")

    def renames(self) -> bool:
        return self.cleaned_data.get("slug") not in (None, self.current_slug)

    def confirmed(self) -> bool:
        return bool(self.cleaned_data.get("confirm_rename"))

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "confirm_rename"}


def rename_help(where: str) -> str:
    return (
        f"Part of every index and upload URL ({where}). After a rename the old URLs keep "
        f"answering for {settings.SLUG_ALIAS_DAYS} days (installers get the same packages, "
        "people are sent to the new page), then no more: you will see every URL that changes "
        "before anything is renamed."
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


DEFAULT_KEY_DAYS = 90
ALL_REPOSITORIES = "all"
ONLY_THESE = "only"


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=KeyScope.choices, initial=KeyScope.READ)
    # Offered only as far as the creator may grant (see __init__).
    management_scopes = forms.MultipleChoiceField(
        choices=ManagementScope.choices,
        required=False,
        label="Management scopes",
        widget=forms.CheckboxSelectMultiple,
        help_text="What a script with this key may manage through the REST API.",
    )
    personal = forms.BooleanField(
        required=False,
        help_text="Acts as you: stops working if you leave or your role no longer allows it.",
    )
    # An explicit choice: "nothing ticked" no longer means every repository (review H2).
    access = forms.ChoiceField(
        label="Repositories",
        choices=[(ALL_REPOSITORIES, "All repositories"), (ONLY_THESE, "Only these")],
        initial=ALL_REPOSITORIES,
        widget=forms.RadioSelect,
        help_text="All covers repositories created later too.",
    )
    repositories: forms.ModelMultipleChoiceField[Model] = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        label="Only these repositories",
        widget=forms.CheckboxSelectMultiple,
        help_text="With “Only these”: the key works in these and nowhere else.",
    )
    # A default lifetime: a forgotten key should not work for ever (UX review, item 6).
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        initial=DEFAULT_KEY_DAYS,
        help_text=f"{DEFAULT_KEY_DAYS} days unless you change it; empty means it never expires.",
    )
    allowed_networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="CIDR networks, one per line or comma separated; empty means anywhere.",
    )

    def __init__(
        self,
        *args: Any,
        repositories: QuerySet[Model],
        scopes: frozenset[str] | None = None,
        grantable: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        """`scopes`: the scopes of the personal keys a person without manage_keys may make
        (None for key managers): the form then offers only those, and always personal.
        `grantable`: the management scopes the person may put on a key."""
        super().__init__(*args, **kwargs)
        field = self.fields["repositories"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = repositories
        offered = [(v, label) for v, label in ManagementScope.choices if v in grantable]
        management = self.fields["management_scopes"]
        assert isinstance(management, forms.MultipleChoiceField)
        if offered:
            management.choices = offered
        else:
            del self.fields["management_scopes"]
        self.personal_only = scopes is not None
        if scopes is not None:
            scope = self.fields["scope"]
            assert isinstance(scope, forms.ChoiceField)
            scope.choices = [(v, label) for v, label in KeyScope.choices if v in scopes]
            scope.help_text = "Your role allows these scopes."
            # Not a choice: without manage_keys only personal keys can be made.
            del self.fields["personal"]

    def is_personal(self) -> bool:
        return self.personal_only or bool(self.cleaned_data.get("personal"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("repositories")
        if data.get("access") == ONLY_THESE and not chosen:
            self.add_error(
                "repositories", "Choose at least one repository, or choose All repositories."
            )
        elif data.get("access") == ALL_REPOSITORIES and chosen:
            # Ticked boxes under "All" are a half-made choice: never guess it means everything.
            self.add_error(
                "repositories",
                "You chose All repositories: untick these, or choose “Only these”.",
            )
        return data

    def limited_to(self) -> list[RepositoryRef] | None:
        """The service's `repositories`: None for every repository, else the ones chosen."""
        if self.cleaned_data["access"] == ALL_REPOSITORIES:
            return None
        return list(self.cleaned_data["repositories"])

    def clean_allowed_networks(self) -> list[str]:
        raw = self.cleaned_data["allowed_networks"].replace(",", "\n")
        networks = [line.strip() for line in raw.splitlines() if line.strip()]
        validate_networks(networks)
        return networks

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class AuditFilterForm(forms.Form):
    who = forms.CharField(label="Actor", max_length=200, required=False)
    action = forms.ChoiceField(label="Action", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(
        self, *args: Any, actions: list[str], labels: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["action"]
        assert isinstance(field, forms.ChoiceField)
        names = labels or {}
        field.choices = [("", "Any action"), *((a, names.get(a, a)) for a in actions)]

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


def _midnight(day: date | None) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
