"""Trusted publishers: which CI identities may exchange their OIDC token for a short-lived
upload key to one repository, and the identity tokens already exchanged."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import User
from registry.models import Repository


class PublisherKind(models.TextChoices):
    GITHUB = "github", "GitHub Actions"
    GITLAB = "gitlab", "GitLab CI"
    OIDC = "oidc", "Other OIDC issuer"


class TrustedPublisher(models.Model):
    """One CI identity allowed to publish to a repository (optionally to one project of it).

    One table for every kind: the kind says which of the fields below it uses."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="trusted_publishers"
    )
    kind = models.CharField(max_length=8, choices=PublisherKind.choices)
    # A normalized project name the minted key may upload to; blank: any project.
    project = models.CharField(max_length=200, blank=True)
    # GitLab: the instance (https://gitlab.com by default); other issuers: their URL. Blank for
    # GitHub, whose issuer is the server's setting OIDC_GITHUB_ISSUER.
    issuer = models.URLField(max_length=300, blank=True)
    # GitHub: "owner/name"; GitLab: "namespace/project" (the project path, groups included).
    ci_repository = models.CharField(max_length=300, blank=True)
    # GitHub: the workflow's filename in .github/workflows/; GitLab: the CI config's path.
    workflow = models.CharField(max_length=300, blank=True)
    # GitHub and GitLab: the deployment environment the job must run in; blank: any.
    environment = models.CharField(max_length=255, blank=True)
    # GitHub's immutable ids of the owner account and the repository, given by the admin or
    # recorded at first use: a renamed and re-registered account of the same name has
    # other ids, so it cannot publish here.
    owner_id = models.CharField(max_length=40, blank=True)
    ci_repository_id = models.CharField(max_length=40, blank=True)
    # Other issuers: the audience their tokens must carry (blank: this server's audience),
    # and claims the token must carry with exactly these values.
    audience = models.CharField(max_length=300, blank=True)
    required_claims = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["kind", "issuer"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.describe()}"

    def describe(self) -> str:
        """The publisher in one line, as the dashboard and the audit log show it."""
        if self.kind == PublisherKind.GITHUB:
            where = f"{self.ci_repository}, workflow {self.workflow}"
        elif self.kind == PublisherKind.GITLAB:
            where = f"{self.issuer} {self.ci_repository}, {self.workflow}"
        else:
            claims = ", ".join(f"{k}={v}" for k, v in sorted(self.required_claims.items()))
            where = f"{self.issuer} ({claims})"
        if self.environment:
            where += f", environment {self.environment}"
        return where + (f", project {self.project}" if self.project else "")


class UsedIdentityToken(models.Model):
    """An identity token already exchanged, kept until it expires: presented again, it is
    refused. The unique constraint makes two concurrent presentations mint one key at most."""

    issuer = models.CharField(max_length=300)
    # The token's `jti`, or (for issuers that send none) a SHA-256 of the whole token.
    token_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["issuer", "token_id"], name="identity_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.token_id}"
