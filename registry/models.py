from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from accounts.models import ApiKey
from accounts.models import Organization
from accounts.validators import validate_repository_slug


class RepositoryKind(models.TextChoices):
    """What a repository's index serves; every kind has the same URLs, keys and roles."""

    HOSTED = "hosted", "Hosted (uploaded packages)"
    PROXY = "proxy", "Proxy (a cache of an upstream index)"
    VIRTUAL = "virtual", "Virtual (several repositories as one index)"


DEFAULT_UPSTREAM_URL = "https://pypi.org/simple/"


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
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(
        max_length=8, choices=RepositoryKind.choices, default=RepositoryKind.HOSTED
    )

    # Proxy repositories: the upstream simple index and how long a fetched page counts as
    # fresh. The password is stored to talk to the upstream and never shown back.
    upstream_url = models.URLField(max_length=500, blank=True)
    upstream_username = models.CharField(max_length=200, blank=True)
    upstream_password = models.CharField(max_length=500, blank=True)
    cache_ttl = models.PositiveIntegerField(default=600)
    # What a proxy lets through (registry.filters): files younger than the cooldown or newer
    # than the snapshot are not listed; allow/deny hold one `name[specifier]` per line;
    # exempt names skip the cooldown and the snapshot.
    cooldown_days = models.PositiveIntegerField(null=True, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    allow_rules = models.TextField(blank=True)
    deny_rules = models.TextField(blank=True)
    exempt_names = models.TextField(blank=True)
    # Virtual repositories: uploads to the virtual URL land in this hosted member.
    upload_target = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Bumped whenever a setting that changes what the index lists changes (filters,
    # members, overrides): proxy and virtual pages are cached under it.
    config_serial = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "repositories"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "slug"], name="repo_slug_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"

    @property
    def upload_size_limit(self) -> int:
        """The largest file it takes: the lowest of the server's, the organization's quota
        and its own limit."""
        return min(self._size_limits().values())

    def upload_size_limit_source(self) -> str:
        """Whose limit `upload_size_limit` is, for the refusal: "repository", "organization"
        or "server"."""
        limits = self._size_limits()
        return min(limits, key=lambda k: (limits[k], k != "repository"))

    def _size_limits(self) -> dict[str, int]:
        limits = {"server": settings.MAX_UPLOAD_SIZE}
        if self.organization.max_file_size:
            limits["organization"] = self.organization.max_file_size
        if self.max_file_size:
            limits["repository"] = self.max_file_size
        return limits


class ProjectStatus(models.TextChoices):
    """PEP 792 project status markers."""

    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived (no new uploads)"
    QUARANTINED = "quarantined", "Quarantined (nothing offered)"
    DEPRECATED = "deprecated", "Deprecated"


class RepositorySlugAlias(models.Model):
    """A slug the repository had before a rename, answering (until `expires_at`) as the
    repository does (registry.selectors.repository_for follows it): configured clients keep
    working while their owners update them. Slugs are unique per organization, like the
    repositories' own; a new repository taking the slug drops the alias, renaming back
    removes it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="slug_aliases"
    )
    slug = models.SlugField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="one_repository_alias_per_slug"
            )
        ]

    def __str__(self) -> str:
        return f"{self.slug} -> {self.repository_id} until {self.expires_at:%Y-%m-%d}"


class Project(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="projects")
    # The name as first uploaded; normalized_name (PEP 503) is what URLs and lookups use.
    name = models.CharField(max_length=200)
    normalized_name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    status_reason = models.TextField(blank=True)
    # Whether anyone may read the project's README badge (its name and latest version only):
    # the registry is private, so an owner or admin opts a project in, for a README shown
    # where readers have no session here (a public GitHub page). Otherwise the badge needs
    # a session that may read the repository (registry.selectors.project_badge_for).
    public_badge = models.BooleanField(default=False)
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


class VirtualMember(models.Model):
    """One repository of a virtual repository, at its place in the order pages are merged."""

    virtual = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering: ClassVar = ["position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["virtual", "member"], name="member_once_per_virtual")
        ]

    def __str__(self) -> str:
        return f"{self.virtual} #{self.position}: {self.member}"


class UpstreamOverride(models.Model):
    """A project name of a virtual repository whose upstream versions are listed beside the
    hosted ones (a team patching a public package). Without one, private names always win."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="upstream_overrides"
    )
    normalized_name = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["repository", "normalized_name"], name="override_name_per_repo"
            )
        ]

    def __str__(self) -> str:
        return self.normalized_name


class CachedProject(models.Model):
    """A proxy repository's copy of one upstream project page, as index entries."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="cached_projects"
    )
    normalized_name = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    # False: the upstream answered 404 (cached like a page, for the same TTL).
    found = models.BooleanField(default=True)
    # registry.upstream.Entry dicts, upstream order.
    files = models.JSONField(default=list)
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    # The last time the upstream confirmed this copy (200 or 304); None: never fetched.
    fetched_at = models.DateTimeField(null=True, blank=True)
    # Bumped when the entries change; the proxy's pages are cached under it.
    serial = models.PositiveBigIntegerField(default=0)
    # The last failure to reach the upstream, while it lasts: the copy is served stale, and
    # the upstream is not asked again for UPSTREAM_RETRY_SECONDS.
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["repository", "normalized_name"], name="cached_project_per_repo"
            )
        ]

    def __str__(self) -> str:
        return self.normalized_name


class CachedFile(models.Model):
    """An upstream file a proxy fetched, checked against the upstream sha256, and stored."""

    project = models.ForeignKey(
        CachedProject, on_delete=models.CASCADE, related_name="cached_files"
    )
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=512)
    # Either part may be fetched first (installers read the metadata before the file): the
    # distribution's size once it is stored, the PEP 658 metadata's sha256 once it is.
    size = models.PositiveBigIntegerField(null=True, blank=True)
    metadata_sha256 = models.CharField(max_length=64, blank=True)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["repository", "filename"], name="cached_filename_per_repo"
            )
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def metadata_storage_key(self) -> str:
        return f"{self.storage_key}.metadata"
