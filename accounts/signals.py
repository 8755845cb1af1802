"""Renew an organization's access generation (core.cache) whenever a row that decides access
in it is written: its keys and their repository limits, its members (and their accounts:
a deactivated user's personal keys stop), the organization itself.

Signals, not calls in each service, so that every writer is covered, the admin site too. A
queryset `update()` sends no signal: the services that write access rows that way renew
the generation themselves (api_key_revoke)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed
from django.db.models.signals import post_delete
from django.db.models.signals import post_save
from django.db.models.signals import pre_save
from django.dispatch import receiver

from accounts.models import ApiKey
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import OrganizationSlugAlias
from accounts.models import User
from core.cache import access_generation_key
from core.cache import renew


def access_changed(*, organization_id: int | None) -> None:
    """Everything cached about who may do what in this organization is to be looked up anew."""
    if organization_id is None:
        return
    slug = Organization.objects.filter(pk=organization_id).values_list("slug", flat=True).first()
    if slug is not None:
        renew([access_generation_key(slug)])


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def _member_or_key_written(sender: Any, instance: ApiKey | Membership, **kwargs: Any) -> None:
    access_changed(organization_id=instance.organization_id)


@receiver(m2m_changed, sender=ApiKey.repositories.through)
def _key_limits_written(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    # `instance` is the key, or the repository when written from its side: both name their
    # organization the same way.
    if action.startswith("post_"):
        access_changed(organization_id=instance.organization_id)


@receiver(post_save, sender=User)
def _user_written(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    # A deactivated user's personal keys stop working (accounts.services.keys): in every
    # organization the user belongs to. Log-ins write last_login: those change nothing here.
    fields = kwargs.get("update_fields")
    if created or (fields is not None and set(fields) <= {"last_login"}):
        return
    slugs = Organization.objects.filter(memberships__user=instance).values_list("slug", flat=True)
    renew([access_generation_key(slug) for slug in slugs])


@receiver(pre_save, sender=Organization)
def _organization_renamed(sender: Any, instance: Organization, **kwargs: Any) -> None:
    # Entries cached under the old slug must not answer it any more; nor must what the hot
    # path knows of the organization's former slugs (registry.index.hot), which named it.
    if instance.pk is not None:
        access_changed(organization_id=instance.pk)
        former = OrganizationSlugAlias.objects.filter(organization_id=instance.pk)
        renew([access_generation_key(slug) for slug in former.values_list("slug", flat=True)])


@receiver(post_save, sender=OrganizationSlugAlias)
@receiver(post_delete, sender=OrganizationSlugAlias)
def _former_slug_written(sender: Any, instance: OrganizationSlugAlias, **kwargs: Any) -> None:
    # What answers at the former slug changes: a new alias, or one dropped or expired.
    renew([access_generation_key(instance.slug)])


@receiver(post_save, sender=Organization)
@receiver(post_delete, sender=Organization)
def _organization_written(sender: Any, instance: Organization, **kwargs: Any) -> None:
    renew([access_generation_key(instance.slug)])
