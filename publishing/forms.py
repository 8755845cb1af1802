"""The dashboard's form for adding a trusted publisher: every kind's fields in one form (the
service says which a kind uses and checks them)."""

from __future__ import annotations

from typing import Any

from django import forms

from publishing.models import PublisherKind


class PublisherForm(forms.Form):
    # It shares the settings page with the repository's form: its own field names and ids.
    prefix = "publisher"

    kind = forms.ChoiceField(choices=PublisherKind.choices, initial=PublisherKind.GITHUB)
    ci_repository = forms.CharField(
        max_length=300,
        required=False,
        label="Repository or project",
        help_text="GitHub: owner/name. GitLab: namespace/project.",
    )
    workflow = forms.CharField(
        max_length=300,
        required=False,
        label="Workflow or CI file",
        help_text="GitHub: the workflow's filename (release.yml). GitLab: the CI configuration "
        "(.gitlab-ci.yml when empty).",
    )
    environment = forms.CharField(
        max_length=255,
        required=False,
        help_text="GitHub and GitLab: only jobs in this deployment environment; empty: any.",
    )
    project = forms.CharField(
        max_length=200, required=False, help_text="Only this project may be uploaded; empty: any."
    )
    issuer = forms.CharField(
        max_length=300,
        required=False,
        help_text="GitLab: the instance (https://gitlab.com when empty). Other issuers: their URL.",
    )
    owner_id = forms.CharField(
        max_length=40,
        required=False,
        label="GitHub owner id",
        help_text="Recorded at first use when empty.",
    )
    ci_repository_id = forms.CharField(
        max_length=40,
        required=False,
        label="GitHub repository id",
        help_text="Recorded at first use when empty.",
    )
    audience = forms.CharField(
        max_length=300, required=False, help_text="Other issuers: empty means this registry's."
    )
    required_claims = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Other issuers: one claim=value per line, each matched exactly.",
    )

    def clean_required_claims(self) -> dict[str, str]:
        claims: dict[str, str] = {}
        for line in self.cleaned_data["required_claims"].splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise forms.ValidationError(f"Write each claim as name=value, not {line!r}.")
            claims[name.strip()] = value.strip()
        return claims

    def options(self) -> dict[str, Any]:
        """The fields as publisher_create takes them."""
        return dict(self.cleaned_data)
