from __future__ import annotations

import uuid
from typing import Any
from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.validators import validate_networks
from accounts.validators import validate_organization_slug


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, identified by email address."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email


class Organization(models.Model):
    """A tenant: everything below it is invisible to other organizations."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=64, unique=True, validators=[validate_organization_slug])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Quotas, set by the operator (manage.py quota, or the admin); None: no limit. Storage
    # counts the sizes of the organization's uploaded files, pending and ready (a proxy's
    # cache is not the organization's upload, and is purged on its own).
    storage_quota = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Bytes of uploaded files; empty: no limit."
    )
    max_file_size = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Bytes per uploaded file; empty: the server's limit."
    )

    def __str__(self) -> str:
        return self.slug


class OrganizationSlugAlias(models.Model):
    """A slug the organization had before a rename, answering (until `expires_at`) as the
    organization does: every pip.conf, .pypirc and CI secret names the old URL, and a rename
    must not break them on the spot (accounts.selectors.organization_for follows it).

    A new organization taking the slug drops the alias; renaming back removes it."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="slug_aliases"
    )
    slug = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.slug} -> {self.organization_id} until {self.expires_at:%Y-%m-%d}"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    READER = "reader", "Reader"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class KeyScope(models.TextChoices):
    READ = "read", "Read"
    UPLOAD = "upload", "Read and upload"


class ManagementScope(models.TextChoices):
    """What a key may do beyond reading and uploading, one scope per kind of change; each is
    still bounded by the role of a personal key's user."""

    MANAGE_REPOSITORIES = "manage:repositories", "Manage repositories and their settings"
    MANAGE_KEYS = "manage:keys", "Manage API keys"
    MANAGE_MEMBERS = "manage:members", "Manage members and invitations"
    YANK = "yank", "Yank and unyank releases"
    DELETE = "delete", "Delete releases and files"
    MANAGE_WEBHOOKS = "manage:webhooks", "Manage webhooks"


class ApiKey(models.Model):
    """A secret for pip, twine and the REST API. Only an HMAC of the secret is stored."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The public half of the key, shown in lists and used to find the row in one lookup.
    public_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=16, choices=KeyScope.choices, default=KeyScope.READ)
    # ManagementScope values, beside `scope`: kept apart so a client that knows only
    # read/upload keeps reading `scope` as before, and an existing key holds none.
    management_scopes = models.JSONField(default=list, blank=True)
    # Every repository of the organization, present and future. Stored, never inferred from an
    # empty `repositories`: the link rows vanish with a deleted repository, and a limited key
    # whose repositories are all gone must be refused everywhere, not widened (review H2).
    # False by default, so a row made without saying so fails closed.
    all_repositories = models.BooleanField(default=False)
    # When not all_repositories: the only repositories the key covers (empty: none at all).
    repositories = models.ManyToManyField("registry.Repository", blank=True, related_name="+")
    # A normalized project name: uploads with this key may only add files to that project.
    # Set on the short-lived keys minted for a project-scoped trusted publisher; blank: any.
    upload_project = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Source networks (CIDR strings) the key may be used from; empty means anywhere.
    allowed_networks = models.JSONField(default=list, blank=True)
    # A personal key acts as this user: it can never do more than the user's role allows,
    # and stops working when the user leaves the organization.
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_keys"
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def can_upload(self) -> bool:
        return self.scope == KeyScope.UPLOAD

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the key holds: its base scope (upload implies read) and its management
        scopes."""
        base = {KeyScope.READ.value} | ({KeyScope.UPLOAD.value} if self.can_upload else set())
        return frozenset(base | set(self.management_scopes))

    @property
    def is_personal(self) -> bool:
        return self.user_id is not None

    @property
    def lost_its_repositories(self) -> bool:
        """A limited key whose every repository was deleted: refused wherever it is used.
        Reads `repositories.all()`, so prefetching them makes this free in lists."""
        return not self.all_repositories and not self.repositories.all()

    def clean(self) -> None:
        validate_networks(self.allowed_networks)
        unknown = set(self.management_scopes) - set(ManagementScope.values)
        if unknown:
            raise ValidationError(
                {"management_scopes": f"Unknown scopes: {', '.join(sorted(unknown))}."}
            )
        # One spelling per set of scopes: sorted, no repeats (audit details and answers).
        self.management_scopes = sorted(set(self.management_scopes))


class Invitation(models.Model):
    """An emailed link that lets its holder join an organization with a role, until it expires."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Like API keys, only a hash of the link's token is kept.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} as {self.role}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class AuditEvent(models.Model):
    """One change, or one refused key use, in an organization: who, what, from where, when."""

    # Kept (without the link) when the organization is deleted, so its deletion stays on record.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted, in words that outlive the user or key rows.
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"
