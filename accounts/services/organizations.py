"""Users and organizations."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from accounts.models import Organization
from accounts.models import OrganizationSlugAlias
from accounts.models import Role
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import forget_roles
from accounts.permissions import require
from accounts.services.audit import audit_record

# Users ------------------------------------------------------------------------------------------


def user_get_or_create(*, email: str, password: str | None = None) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    return user


# Organizations ----------------------------------------------------------------------------------


@transaction.atomic
def organization_get_or_create(*, slug: str, name: str, owner: User) -> Organization:
    """The organization with this slug, created if new; `owner` joins it as an owner."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        organization = Organization(slug=slug, name=name)
        organization.full_clean()
        former_slug_release(slug=slug)
        organization.save()
        audit_record(
            organization=organization,
            action="organization.create",
            target=f"organization {slug}",
            details={"name": name, "via": "provisioning"},
        )
    _, joined = Membership.objects.get_or_create(
        user=owner, organization=organization, defaults={"role": Role.OWNER}
    )
    if joined:
        audit_record(
            organization=organization,
            action="membership.add",
            target=f"user {owner.email}",
            details={"role": Role.OWNER, "via": "provisioning"},
        )
    return organization


@transaction.atomic
def organization_create(
    *, slug: str, name: str, creator: User, source_ip: str | None = None
) -> Organization:
    """A new organization; its creator becomes its first owner."""
    organization = Organization(slug=slug, name=name or slug)
    organization.full_clean()
    former_slug_release(slug=slug)
    organization.save()
    Membership.objects.create(user=creator, organization=organization, role=Role.OWNER)
    forget_roles(creator)
    audit_record(
        organization=organization,
        action="organization.create",
        actor=creator,
        target=f"organization {slug}",
        source_ip=source_ip,
        details={"name": organization.name},
    )
    return organization


def alias_expiry() -> datetime:
    """Until when a slug given up now keeps answering."""
    return timezone.now() + timedelta(days=settings.SLUG_ALIAS_DAYS)


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    actor: User,
    name: str,
    slug: str,
    source_ip: str | None = None,
) -> Organization:
    """Rename an organization (display name and slug; the slug is in every index URL).

    The former slug keeps answering until SLUG_ALIAS_DAYS from now (an alias, written in this
    transaction): installers get the same content there, people a redirect. Renaming back
    removes that alias; a slug that was another organization's former one is taken over."""
    require(actor, Action.MANAGE_SETTINGS, organization)
    before = {"name": organization.name, "slug": organization.slug}
    former = organization.slug
    organization.name = name
    organization.slug = slug
    organization.full_clean()
    details: dict[str, object] = {"before": before, "after": {"name": name, "slug": slug}}
    if slug != former:
        former_slug_release(slug=slug, keep=organization)
        until = alias_expiry()
        OrganizationSlugAlias.objects.update_or_create(
            slug=former, defaults={"organization": organization, "expires_at": until}
        )
        details["former_slug_until"] = until.isoformat()
    organization.save(update_fields=["name", "slug"])
    audit_record(
        organization=organization,
        action="organization.update",
        actor=actor,
        target=f"organization {organization.slug}",
        source_ip=source_ip,
        details=details,
    )
    return organization


def former_slug_release(*, slug: str, keep: Organization | None = None) -> None:
    """An organization now takes `slug`: a former slug of that name stops answering for the
    organization that had it (audited there, by the system: who took it is another tenant's
    business), unless it is `keep`'s own (renaming back)."""
    alias = OrganizationSlugAlias.objects.select_related("organization").filter(slug=slug).first()
    if alias is None:
        return
    alias.delete()
    if keep is None or alias.organization_id != keep.pk:
        audit_record(
            organization=alias.organization,
            action="organization.former_slug_taken",
            target=f"organization {alias.organization.slug}",
            details={"former_slug": slug},
        )
