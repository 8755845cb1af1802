from __future__ import annotations

from django import forms

from analytics.retention import MAX_DAYS
from analytics.retention import MAX_KEEP


class RetentionForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, label="Apply daily", help_text="Off: nothing is deleted; the dry run "
        "below still shows what would be."
    )  # fmt: skip
    keep_finals = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_KEEP, label="Final releases kept per project",
        help_text="The newest N final releases (PEP 440 order) stay; empty keeps all.",
    )  # fmt: skip
    prerelease_days = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_DAYS,
        label="Delete dev, pre and local versions older than (days)",
        help_text="Empty keeps them all.",
    )  # fmt: skip
    protect_downloaded_days = forms.IntegerField(
        min_value=0, max_value=MAX_DAYS, initial=30,
        label="Never delete a release downloaded within (days)",
    )  # fmt: skip
