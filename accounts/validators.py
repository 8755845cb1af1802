from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

# First path segments the application serves itself; an organization may never take one.
RESERVED_ORGANIZATION_SLUGS = frozenset(
    {
        "_", "about", "account", "accounts", "admin", "api", "app", "auth", "dashboard", "docs",
        "files", "healthz", "help", "legacy", "login", "logout", "media", "new", "oidc", "orgs",
        "organizations", "pypi", "settings", "signup", "simple", "static", "status", "www",
    }
)  # fmt: skip
# Second path segments under an organization that the application serves itself.
RESERVED_REPOSITORY_SLUGS = frozenset(
    {"api", "audit", "keys", "members", "settings", "simple", "legacy", "files", "pypi", "new"}
)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_slug(value: str, reserved: frozenset[str]) -> None:
    if not SLUG_RE.match(value):
        raise ValidationError(
            "Use 1 to 64 lowercase letters, digits and hyphens, starting and ending with a "
            "letter or digit.",
            code="invalid_slug",
        )
    if value in reserved:
        raise ValidationError(f"'{value}' is reserved; choose another name.", code="reserved")


def validate_organization_slug(value: str) -> None:
    validate_slug(value, RESERVED_ORGANIZATION_SLUGS)


def validate_repository_slug(value: str) -> None:
    validate_slug(value, RESERVED_REPOSITORY_SLUGS)


def validate_networks(value: object) -> None:
    """A list of CIDR networks (`10.0.0.0/8`, `2001:db8::/32`, or single addresses)."""
    if not isinstance(value, list):
        raise ValidationError("Allowed networks must be a list.", code="invalid_networks")
    for item in value:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise ValidationError(
                f"'{item}' is not a network in CIDR notation, like 10.0.0.0/8.",
                code="invalid_network",
            ) from None
