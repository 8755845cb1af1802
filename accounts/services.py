"""Writes for users, organizations and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User

# Recognisable by secret scanners; the rest is a public id and a 256-bit secret.
API_KEY_PREFIX = "whk_"
PUBLIC_ID_LENGTH = 12
# last_used_at is a hint, not a log: one write per key per interval is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key_secret(secret: str) -> str:
    """HMAC-SHA-256 of a key's secret: fast, and useless without the server's pepper."""
    return hmac.new(settings.API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


def _new_public_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(PUBLIC_ID_LENGTH))


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    # The full key, to be shown once and never stored.
    token: str


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scope: str = KeyScope.READ,
    created_by: User | None = None,
    repositories: Iterable[object] = (),
    expires_at: datetime | None = None,
) -> NewApiKey:
    """Create a key and return it with its secret, which exists only in the return value."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey(
            organization=organization,
            name=name,
            public_id=_new_public_id(),
            secret_hash=hash_api_key_secret(secret),
            scope=scope,
            created_by=created_by,
            expires_at=expires_at,
        )
        api_key.full_clean()
        api_key.save()
        api_key.repositories.set(list(repositories))
    return NewApiKey(api_key=api_key, token=f"{API_KEY_PREFIX}{api_key.public_id}_{secret}")


def api_key_authenticate(token: str) -> ApiKey | None:
    """The active key a presented token belongs to, or None."""
    token = token.strip()
    if not token.startswith(API_KEY_PREFIX):
        return None
    public_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(public_id) != PUBLIC_ID_LENGTH or not secret:
        return None
    api_key = ApiKey.objects.select_related("organization").filter(public_id=public_id).first()
    if api_key is None:
        return None
    if not hmac.compare_digest(api_key.secret_hash, hash_api_key_secret(secret)):
        return None
    now = timezone.now()
    if api_key.revoked_at is not None or (api_key.expires_at and api_key.expires_at <= now):
        return None
    _touch_last_used(api_key, now)
    return api_key


def _touch_last_used(api_key: ApiKey, now: datetime) -> None:
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def user_get_or_create(*, email: str, password: str | None = None) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    return user


@transaction.atomic
def organization_get_or_create(*, slug: str, name: str, owner: User) -> Organization:
    """The organization with this slug, created if new; `owner` joins it as an owner."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        organization = Organization(slug=slug, name=name)
        organization.full_clean()
        organization.save()
    Membership.objects.get_or_create(
        user=owner, organization=organization, defaults={"role": Role.OWNER}
    )
    return organization
