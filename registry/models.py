from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from accounts.models import ApiKey
from accounts.models import Organization
from accounts.validators import validate_repository_slug


class Repository(models.Model):
    """A package index of one organization: `/<org>/<repo>/simple/`."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="repositories"
    )
    slug = models.SlugField(max_length=64, validators=[validate_repository_slug])
    description = models.TextField(blank=True)
    # None means the server-wide MAX_UPLOAD_SIZE.
    max_file_size = models.PositiveBigIntegerField(null=True, blank=True)
    # Whether files and releases may be deleted. Filenames are never reused either way (see
    # DeletedFilename), so a deletion can not swap the bytes behind a name; it is the only way
    # to withdraw a leaked secret from a private index. Repositories that must stay
    # reproducible turn it off and yank instead.
    allow_file_deletion = models.BooleanField(default=True)
    # Bumped whenever any of its projects changes: the root page's cache tag.
    serial = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "slug"], name="repo_slug_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"

    @property
    def upload_size_limit(self) -> int:
        limit = settings.MAX_UPLOAD_SIZE
        return min(limit, self.max_file_size) if self.max_file_size else limit


class ProjectStatus(models.TextChoices):
    """PEP 792 project status markers."""

    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived (no new uploads)"
    QUARANTINED = "quarantined", "Quarantined (nothing offered)"
    DEPRECATED = "deprecated", "Deprecated"


class Project(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="projects")
    # The name as first uploaded; normalized_name (PEP 503) is what URLs and lookups use.
    name = models.CharField(max_length=200)
    normalized_name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    status_reason = models.TextField(blank=True)
    # Bumped on every change an index page shows; pages are cached and tagged by it.
    serial = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["repository", "normalized_name"], name="project_name_per_repo"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=100)
    # packaging's canonicalize_version: 1.0 and 1.0.0 are one release.
    canonical_version = models.CharField(max_length=100)
    summary = models.CharField(max_length=512, blank=True)
    requires_python = models.CharField(max_length=200, blank=True)
    # Core metadata as parsed from the first processed file, in packaging's raw form.
    metadata = models.JSONField(default=dict, blank=True)
    yanked = models.BooleanField(default=False)
    yanked_reason = models.TextField(blank=True)
    # The README (core metadata Description) rendered and sanitised by readme-renderer.
    description_html = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["project", "canonical_version"], name="release_version_per_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.name} {self.version}"


class PackageType(models.TextChoices):
    SDIST = "sdist", "Source distribution"
    WHEEL = "bdist_wheel", "Wheel"


class FileStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected"


class File(models.Model):
    """One uploaded distribution. Only `ready` files are listed in the index."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    # Denormalized so filename uniqueness holds across the whole repository.
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255)
    packagetype = models.CharField(max_length=16, choices=PackageType.choices)
    python_version = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    blake2_256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32)
    storage_key = models.CharField(max_length=512)
    status = models.CharField(
        max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING, db_index=True
    )
    rejection_reason = models.TextField(blank=True)
    # sha256 of the PEP 658 `.metadata` file stored beside the distribution (wheels only).
    metadata_sha256 = models.CharField(max_length=64, blank=True)
    requires_python = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # A worker owns the file until then; past it, a crashed worker's claim may be taken over.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["repository", "filename"], name="filename_per_repo"),
            models.UniqueConstraint(
                fields=["release"],
                condition=models.Q(packagetype="sdist"),
                name="one_sdist_per_release",
            ),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def metadata_storage_key(self) -> str:
        return f"{self.storage_key}.metadata"


class DeletedFilename(models.Model):
    """A filename once used in a repository: it can never name other bytes there again."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="deleted_filenames"
    )
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["repository", "filename"], name="deleted_filename_per_repo"
            )
        ]

    def __str__(self) -> str:
        return self.filename
