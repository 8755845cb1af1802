from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from core.events import EventType
from registry.models import Repository

EVENT_LABELS = {
    EventType.FILE_PUBLISHED: "File published (processed and listed)",
    EventType.FILE_REJECTED: "File rejected by processing",
    EventType.FILE_DELETED: "File deleted",
    EventType.RELEASE_YANKED: "Release yanked",
    EventType.RELEASE_UNYANKED: "Release unyanked",
    EventType.RELEASE_DELETED: "Release deleted",
    EventType.KEY_CREATED: "API key created",
    EventType.KEY_REVOKED: "API key revoked (or rotated)",
    EventType.MEMBER_ADDED: "Member added",
    EventType.MEMBER_REMOVED: "Member removed (or left)",
}


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Payload URL", max_length=500, help_text="http:// or https://; POSTed JSON."
    )
    events = forms.MultipleChoiceField(
        choices=[(t.value, EVENT_LABELS[t]) for t in EventType],
        widget=forms.CheckboxSelectMultiple,
        initial=[EventType.FILE_PUBLISHED.value],
    )
    repository: forms.ModelChoiceField[Repository] = forms.ModelChoiceField(
        queryset=Repository.objects.none(),
        required=False,
        empty_label="All repositories (and key and member events)",
        help_text="Only this repository's events.",
    )
    description = forms.CharField(max_length=200, required=False)
    active = forms.BooleanField(required=False, initial=True, help_text="Send new events.")

    def __init__(
        self, *args: Any, repositories: QuerySet[Repository], editing: bool = False, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        repository_field = self.fields["repository"]
        assert isinstance(repository_field, forms.ModelChoiceField)
        repository_field.queryset = repositories
        if editing:
            # Which repository a webhook covers is fixed: make another for another one.
            del self.fields["repository"]
