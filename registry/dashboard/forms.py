"""Forms of the registry's dashboard pages: repositories, yanks, deletions, search."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator


class ConfirmForm(forms.Form):
    confirm = forms.CharField(label="Type the name to confirm", max_length=64)


class RepositoryForm(forms.Form):
    slug = forms.SlugField(max_length=64, label="Name", help_text="Part of the index URL.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


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
        assert isinstance(field, forms.IntegerField)
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
