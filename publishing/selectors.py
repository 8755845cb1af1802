"""Reading trusted publishers: only those who may configure a repository's see them."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.permissions import require
from core.errors import NotFound
from publishing.models import TrustedPublisher
from registry.models import Repository


def publishers_of(*, actor: Actor, repository: Repository) -> QuerySet[TrustedPublisher]:
    """The repository's trusted publishers, oldest first; PermissionDenied unless the actor
    may manage the repository (they say which CI jobs can publish: configuration)."""
    require(actor, Action.MANAGE_REPOSITORIES, repository.organization, repository)
    return (
        TrustedPublisher.objects.filter(repository=repository)
        .select_related("repository__organization")
        .order_by("created_at", "pk")
    )


def publisher_for(*, actor: Actor, repository: Repository, publisher_id: int) -> TrustedPublisher:
    publisher = publishers_of(actor=actor, repository=repository).filter(pk=publisher_id).first()
    if publisher is None:
        raise NotFound(f"No trusted publisher {publisher_id} in this repository.")
    return publisher
