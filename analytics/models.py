"""Download counts by day, and each repository's retention policy."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import ApiKey
from accounts.models import Organization
from accounts.models import User
from registry.models import Repository


class Installer(models.TextChoices):
    PIP = "pip", "pip"
    UV = "uv", "uv"
    POETRY = "poetry", "Poetry"
    PDM = "pdm", "PDM"
    OTHER = "other", "other"


class DailyDownloads(models.Model):
    """Downloads of one file on one day by one kind of client (installer, Python, platform)
    with one key. Processes add to these rows every few seconds (analytics.recording), never
    one row per download."""

    day = models.DateField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The repository holding the file: downloads through a virtual repository count for the
    # member that serves them.
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    project = models.CharField(max_length=200)  # normalized (PEP 503)
    version = models.CharField(max_length=100)  # as the filename says it (PEP 440 normalized)
    filename = models.CharField(max_length=255)
    metadata = models.BooleanField(default=False)  # the PEP 658 `.metadata` file
    # The key it was downloaded with, 0 for a dashboard session. Not a foreign key: counts
    # outlive deleted keys, and 0 keeps the row unique (NULLs never are).
    key_id = models.BigIntegerField(default=0)
    installer = models.CharField(max_length=8, choices=Installer.choices)
    installer_version = models.CharField(max_length=32, blank=True)
    python = models.CharField(max_length=16, blank=True)
    implementation = models.CharField(max_length=16, blank=True)
    system = models.CharField(max_length=16, blank=True)
    cpu = models.CharField(max_length=16, blank=True)
    count = models.PositiveBigIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "daily downloads"
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=[
                    "day", "repository", "filename", "metadata", "key_id", "installer",
                    "installer_version", "python", "implementation", "system", "cpu",
                ],
                name="one_download_row_per_day_and_client",
            )
        ]  # fmt: skip
        indexes: ClassVar = [
            models.Index(fields=["repository", "project", "day"], name="downloads_project_day"),
            models.Index(fields=["organization", "day"], name="downloads_org_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.filename} {self.installer}: {self.count}"


class RetentionPolicy(models.Model):
    """What analytics.retention deletes from a hosted repository, and what it never does."""

    repository = models.OneToOneField(
        Repository, on_delete=models.CASCADE, related_name="retention_policy"
    )
    enabled = models.BooleanField(default=False)
    # Final releases kept per project, newest first (PEP 440 order); None keeps them all.
    keep_finals = models.PositiveIntegerField(null=True, blank=True)
    # Dev, pre and local versions older than this are deleted; None keeps them all.
    prerelease_days = models.PositiveIntegerField(null=True, blank=True)
    # A release downloaded within this many days is never deleted.
    protect_downloaded_days = models.PositiveIntegerField(default=30)
    # Who set it: the scheduled runs act as them, so their role (or key) must still allow
    # deleting; a person who lost it stops the policy instead of leaving it running.
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"retention of {self.repository}"
