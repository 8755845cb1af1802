"""Shapes of the API's requests and answers. No rules here: services and selectors hold those."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import Organization
from accounts.models import Role
from accounts.validators import SLUG_RE
from registry.links import RepositoryUrls
from registry.links import repository_urls
from registry.models import File
from registry.models import FileStatus
from registry.models import PackageType
from registry.models import Repository

# Accounts ---------------------------------------------------------------------------------------


def _slug(**kwargs: Any) -> serializers.RegexField:
    # The pattern in the schema, so clients (and schemathesis) know a valid slug up front.
    return serializers.RegexField(SLUG_RE.pattern, max_length=64, **kwargs)


class MembershipBriefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, allow_null=True)


class KeyBriefSerializer(serializers.Serializer):
    public_id = serializers.CharField()
    name = serializers.CharField()
    scope = serializers.ChoiceField(choices=KeyScope.choices)
    organization = serializers.CharField(source="organization.slug")


class CurrentUserSerializer(serializers.Serializer):
    email = serializers.EmailField(allow_null=True, help_text="None for an organization key.")
    name = serializers.CharField(allow_blank=True)
    api_key = KeyBriefSerializer(allow_null=True, help_text="The key the request used, if any.")
    organizations = MembershipBriefSerializer(many=True)


class OrganizationSerializer(serializers.Serializer):
    slug = _slug()
    name = serializers.CharField(max_length=200)
    created_at = serializers.DateTimeField(read_only=True)
    role = serializers.SerializerMethodField(help_text="Your role; None for an API key.")

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, organization: Organization) -> str | None:
        return self.context.get("roles", {}).get(organization.pk)


class OrganizationUpdateSerializer(serializers.Serializer):
    slug = _slug(required=False)
    name = serializers.CharField(max_length=200, required=False)


class MemberSerializer(serializers.Serializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    invited_by = serializers.EmailField(
        source="invited_by.email", read_only=True, default=None, allow_null=True
    )
    created_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)


class NewInvitationSerializer(InvitationSerializer):
    url = serializers.URLField(help_text="The link, also emailed; shown this once.")


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=KeyScope.choices, default=KeyScope.READ)
    personal = serializers.BooleanField(
        default=False, help_text="Acts as you, bounded by your role; any member may make one."
    )
    all_repositories = serializers.BooleanField(
        required=False,
        help_text="Every repository, present and future. Default: true when `repositories` "
        "is empty, false when it names repositories (how callers from before this field "
        "limited keys).",
    )
    repositories = serializers.ListField(
        child=_slug(),
        default=list,
        help_text="Repository slugs the key is limited to, when `all_repositories` is false.",
    )
    expires_at = serializers.DateTimeField(
        allow_null=True, default=None, help_text="In the future; null: never expires."
    )
    allowed_networks = serializers.ListField(
        child=serializers.CharField(max_length=64), default=list, help_text="CIDR networks."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Only the request's shape: that a limited key names a repository is the service's rule.
        if "all_repositories" not in attrs:
            attrs["all_repositories"] = not attrs["repositories"]
        elif attrs["all_repositories"] and attrs["repositories"]:
            raise serializers.ValidationError(
                {"all_repositories": "Either all repositories, or a list of repositories."}
            )
        return attrs


class ApiKeySerializer(serializers.Serializer):
    public_id = serializers.CharField()
    name = serializers.CharField()
    scope = serializers.ChoiceField(choices=KeyScope.choices)
    personal = serializers.BooleanField(source="is_personal")
    user = serializers.EmailField(source="user.email", default=None, allow_null=True)
    all_repositories = serializers.BooleanField(
        help_text="Covers every repository; if false, only `repositories`."
    )
    repositories = serializers.SerializerMethodField(
        help_text="When not all_repositories, the only repositories the key covers; empty "
        "then means its repositories were deleted and the key is refused everywhere."
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    allowed_networks = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    def get_repositories(self, api_key: ApiKey) -> list[str]:
        return sorted(r.slug for r in api_key.repositories.all())


class NewApiKeySerializer(ApiKeySerializer):
    token = serializers.CharField(help_text="The key itself; shown this once, never again.")


# Registry ---------------------------------------------------------------------------------------


class RepositorySerializer(serializers.Serializer):
    slug = _slug()
    description = serializers.CharField(allow_blank=True, default="")
    allow_file_deletion = serializers.BooleanField(
        default=True, help_text="Whether files and releases may be deleted (else only yanked)."
    )
    max_file_size = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    index_url = serializers.SerializerMethodField()
    upload_url = serializers.SerializerMethodField()

    def _urls(self, repository: Repository) -> RepositoryUrls:
        base = self.context["request"].build_absolute_uri("/")
        return repository_urls(repository, base_url=base)

    def get_index_url(self, repository: Repository) -> str:
        return self._urls(repository)["index_url"]

    def get_upload_url(self, repository: Repository) -> str:
        return self._urls(repository)["upload_url"]


class RepositoryUpdateSerializer(serializers.Serializer):
    slug = _slug(required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    allow_file_deletion = serializers.BooleanField(required=False)


class ProjectSerializer(serializers.Serializer):
    name = serializers.CharField()
    normalized_name = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReleaseSerializer(serializers.Serializer):
    project = serializers.CharField(source="project.name")
    version = serializers.CharField()
    summary = serializers.CharField()
    requires_python = serializers.CharField()
    yanked = serializers.BooleanField()
    yanked_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class FileSerializer(serializers.Serializer):
    filename = serializers.CharField()
    project = serializers.CharField(source="release.project.name")
    version = serializers.CharField(source="release.version")
    packagetype = serializers.ChoiceField(choices=PackageType.choices)
    python_version = serializers.CharField()
    requires_python = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    blake2_256 = serializers.CharField()
    status = serializers.ChoiceField(
        choices=FileStatus.choices, help_text="Only ready files are in the index."
    )
    rejection_reason = serializers.CharField(help_text="Why processing refused the file.")
    uploaded_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField(help_text="Download URL (takes an API key).")

    def get_url(self, file: File) -> str:
        repository = file.repository
        path = reverse(
            "file",
            kwargs={
                "org": repository.organization.slug,
                "repo": repository.slug,
                "sha256": file.sha256,
                "filename": file.filename,
            },
        )
        return self.context["request"].build_absolute_uri(path)


class ReleaseDetailSerializer(ReleaseSerializer):
    metadata = serializers.DictField(help_text="Core metadata as parsed from the first file.")
    description_html = serializers.CharField(help_text="The README, rendered and sanitised.")
    files = FileSerializer(many=True)


class YankSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="", max_length=1000)


class UploadSerializer(serializers.Serializer):
    content = serializers.FileField(help_text="A wheel or sdist; the filename names it.")
    sha256_digest = serializers.CharField(
        required=False, help_text="If sent, must match the bytes received."
    )


class UsageSerializer(serializers.Serializer):
    storage_bytes = serializers.IntegerField(help_text="Bytes of every stored distribution.")
    file_count = serializers.IntegerField()
    project_count = serializers.IntegerField()
    release_count = serializers.IntegerField()
    repository_count = serializers.IntegerField()


class AuditEventSerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    target = serializers.CharField()
    source_ip = serializers.IPAddressField(allow_null=True)
    details = serializers.DictField()
