"""Renew generations (core.cache) when what the index answers changes.

Access: a repository's settings and former slugs, a virtual repository's members and
overrides decide what a key reaches and how pages merge, so writing them renews the
organization's access generation (accounts.signals does the same for keys and members).
Content: a proxy's cached copy of a project renews that name's content generation when it
is written; hosted projects renew theirs in `registry.services.project_touch`, the one place
their serial moves. Signals, so the admin site is covered too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.signals import access_changed
from core.cache import content_generation_key
from core.cache import renew
from registry.models import CachedProject
from registry.models import Project
from registry.models import Repository
from registry.models import RepositorySlugAlias
from registry.models import UpstreamOverride
from registry.models import VirtualMember


def content_changed(*, repository_id: int, normalized_name: str) -> None:
    """The pages of this project name (and the root pages listing it) are to be built anew,
    in the repository and in every virtual repository of its organization."""
    slug = (
        Repository.objects.filter(pk=repository_id)
        .values_list("organization__slug", flat=True)
        .first()
    )
    if slug is not None:
        renew([content_generation_key(slug, normalized_name), content_generation_key(slug, None)])


def project_content_changed(*, project_id: int) -> None:
    found = Project.objects.filter(pk=project_id).values_list("repository_id", "normalized_name")
    for repository_id, normalized_name in found:
        content_changed(repository_id=repository_id, normalized_name=normalized_name)


@receiver(post_save, sender=Repository)
@receiver(post_delete, sender=Repository)
def _repository_written(sender: Any, instance: Repository, **kwargs: Any) -> None:
    access_changed(organization_id=instance.organization_id)


@receiver(post_save, sender=RepositorySlugAlias)
@receiver(post_delete, sender=RepositorySlugAlias)
def _former_slug_written(sender: Any, instance: RepositorySlugAlias, **kwargs: Any) -> None:
    # Keys let through at the former slug (registry.index.hot) must be looked up again.
    access_changed(organization_id=instance.organization_id)


@receiver(post_save, sender=VirtualMember)
@receiver(post_delete, sender=VirtualMember)
@receiver(post_save, sender=UpstreamOverride)
@receiver(post_delete, sender=UpstreamOverride)
def _merge_written(sender: Any, instance: VirtualMember | UpstreamOverride, **kwargs: Any) -> None:
    repository_id = (
        instance.virtual_id if isinstance(instance, VirtualMember) else instance.repository_id
    )
    organization_id = (
        Repository.objects.filter(pk=repository_id)
        .values_list("organization_id", flat=True)
        .first()
    )
    access_changed(organization_id=organization_id)


@receiver(post_save, sender=CachedProject)
@receiver(post_delete, sender=CachedProject)
def _cached_project_written(sender: Any, instance: CachedProject, **kwargs: Any) -> None:
    content_changed(repository_id=instance.repository_id, normalized_name=instance.normalized_name)
