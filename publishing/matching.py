"""Whether a verified token's claims are those a trusted publisher trusts, as PyPI matches them.

`mismatch` answers None for a match, "" for a token about another CI identity altogether
(another GitHub repository, another GitLab project: nothing to tell its holder), and else one
line saying which claim failed. The lines name the claim and the token's own value, never what
the publisher expects, so they tell the holder nothing about other tenants' configuration.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from publishing.models import PublisherKind
from publishing.models import TrustedPublisher

# The claims kept in the audit log of a mint, when the token has them.
AUDITED_CLAIMS = (
    "iss", "sub", "aud", "jti", "repository", "repository_id", "repository_owner",
    "repository_owner_id", "job_workflow_ref", "workflow_ref", "ref", "sha", "run_id",
    "environment", "project_path", "project_id", "namespace_id", "ci_config_ref_uri",
    "pipeline_id",
)  # fmt: skip


def expected_audience(publisher: TrustedPublisher) -> str:
    return publisher.audience or settings.OIDC_AUDIENCE


def audiences_of(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return "" if value is None else str(value)


def _environment(publisher: TrustedPublisher, claims: dict[str, Any], where: str) -> str | None:
    # Environments are case-insensitive on GitHub; GitLab's are compared the same way.
    if publisher.environment and (
        _text(claims, "environment").lower() != publisher.environment.lower()
    ):
        environment = _text(claims, "environment") or "none"
        return (
            f"the job's environment ({environment!r}) is not the one the trusted publisher "
            f"of {where} requires"
        )
    return None


def _workflow(
    publisher: TrustedPublisher, claims: dict[str, Any], claim: str, prefix: str, what: str
) -> str | None:
    """The job's workflow (GitHub) or CI configuration (GitLab) as its `claim` names it,
    `<where>@<ref>`: `prefix` is the part before the ref, which the publisher fixes."""
    ref = _text(claims, claim)
    if not ref.lower().startswith(prefix.lower()):
        return (
            f"the {what} {ref or 'none'!r} ({claim}) is not the one the trusted publisher of "
            f"{publisher.ci_repository} trusts"
        )
    return _environment(publisher, claims, publisher.ci_repository)


def _github(publisher: TrustedPublisher, claims: dict[str, Any]) -> str | None:
    repository = _text(claims, "repository")
    # GitHub names are case-insensitive; the ids below are what cannot be taken over.
    if repository.lower() != publisher.ci_repository.lower():
        return ""
    if publisher.owner_id and _text(claims, "repository_owner_id") != publisher.owner_id:
        return (
            f"the owner of {repository} is account id "
            f"{_text(claims, 'repository_owner_id')!r}, not the one the trusted publisher "
            "trusts: the account was renamed or deleted, and this is another one"
        )
    if publisher.ci_repository_id and _text(claims, "repository_id") != publisher.ci_repository_id:
        return (
            f"{repository} is repository id {_text(claims, 'repository_id')!r}, not the one the "
            "trusted publisher trusts: it was deleted and created again"
        )
    prefix = f"{publisher.ci_repository}/.github/workflows/{publisher.workflow}@"
    return _workflow(publisher, claims, "job_workflow_ref", prefix, "workflow")


def _gitlab(publisher: TrustedPublisher, claims: dict[str, Any]) -> str | None:
    if _text(claims, "project_path").lower() != publisher.ci_repository.lower():
        return ""
    host = urlsplit(publisher.issuer).netloc
    prefix = f"{host}/{publisher.ci_repository}//{publisher.workflow}@"
    return _workflow(publisher, claims, "ci_config_ref_uri", prefix, "CI configuration")


def _oidc(publisher: TrustedPublisher, claims: dict[str, Any]) -> str | None:
    for name, value in sorted(publisher.required_claims.items()):
        if _text(claims, name) != str(value):
            shown = _text(claims, name) or "missing"
            return (
                f"the claim {name!r} ({shown!r}) is not the value a trusted publisher of "
                f"{publisher.issuer} requires"
            )
    return None


def mismatch(publisher: TrustedPublisher, claims: dict[str, Any]) -> str | None:
    """None when the claims are the publisher's; else why not ("" for another identity)."""
    check = {
        PublisherKind.GITHUB: _github,
        PublisherKind.GITLAB: _gitlab,
        PublisherKind.OIDC: _oidc,
    }[PublisherKind(publisher.kind)]
    reason = check(publisher, claims)
    if reason is None and expected_audience(publisher) not in audiences_of(claims):
        return "the token's audience (aud) is not the one its trusted publisher requires"
    return reason


def audited_claims(claims: dict[str, Any], publishers: list[TrustedPublisher]) -> dict[str, Any]:
    """The claims that matched, for the audit log."""
    names = set(AUDITED_CLAIMS) | {n for p in publishers for n in p.required_claims}
    return {name: claims[name] for name in sorted(names) if name in claims}
