"""Shapes of the API's requests and answers. No rules here: services and selectors hold those."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Organization
from accounts.models import Role
from accounts.validators import SLUG_RE
from core.events import EventType
from publishing.models import PublisherKind
from publishing.services import CI_REPOSITORY_PATTERN
from publishing.services import GITHUB_REPOSITORY_PATTERN
from publishing.services import ISSUER_PATTERN
from publishing.services import NUMERIC_ID_PATTERN
from publishing.services import PROJECT_NAME_PATTERN
from publishing.services import WORKFLOW_FILE_PATTERN
from publishing.services import WORKFLOW_PATTERN
from registry.links import RepositoryUrls
from registry.links import repository_urls
from registry.links import url_without_credentials
from registry.models import DEFAULT_UPSTREAM_URL
from registry.models import File
from registry.models import FileStatus
from registry.models import PackageType
from registry.models import ProjectStatus
from registry.models import Repository
from registry.models import RepositoryKind
from registry.selectors import member_slugs

RULES_HELP = (
    "One project per line, optionally with a version specifier (`django>=4.2,<6`); "
    "`#` starts a comment."
)

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
    scopes = serializers.SerializerMethodField(help_text="Every scope it holds.")
    organization = serializers.CharField(source="organization.slug")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_scopes(self, api_key: ApiKey) -> list[str]:
        return sorted(api_key.scopes)


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


class FormerSlugSerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="The former slug, in URLs that still answer.")
    answers_until = serializers.DateTimeField(
        source="expires_at",
        help_text="Until then installers get the same content at the old URLs and people are "
        "redirected; after it they answer 404 (SLUG_ALIAS_DAYS after the rename).",
    )


class RenamedOrganizationSerializer(OrganizationSerializer):
    former_slugs = FormerSlugSerializer(
        many=True,
        source="former_slug_list",
        help_text="Slugs this organization had, whose URLs still answer: a rename keeps the "
        "old index and upload URLs working for a while.",
    )


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


# Every scope a key can hold, as the `scopes` lists name them.
ALL_SCOPES = [*KeyScope.choices, *ManagementScope.choices]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=KeyScope.choices,
        required=False,
        help_text="`read` (the default) or `upload`; or give `scopes` instead.",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_SCOPES),
        required=False,
        help_text='Every scope the key holds, e.g. ["upload", "yank"]; read is implied. '
        "A key can only be given scopes its creator holds.",
    )
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
        scopes = set(attrs.pop("scopes", []))
        if scopes and "scope" in attrs:
            raise serializers.ValidationError({"scopes": "Either `scope` or `scopes`."})
        if "scope" not in attrs:
            attrs["scope"] = KeyScope.UPLOAD if KeyScope.UPLOAD in scopes else KeyScope.READ
        attrs["management_scopes"] = sorted(scopes - set(KeyScope.values))
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
    scopes = serializers.SerializerMethodField(
        help_text="Every scope the key holds: `scope` (upload implies read) and any of "
        "manage:repositories, manage:keys, manage:members, yank, delete."
    )
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

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ALL_SCOPES)))
    def get_scopes(self, api_key: ApiKey) -> list[str]:
        return sorted(api_key.scopes)


class NewApiKeySerializer(ApiKeySerializer):
    token = serializers.CharField(help_text="The key itself; shown this once, never again.")


# Registry ---------------------------------------------------------------------------------------


class _RepositorySettings(serializers.Serializer):
    """The kind-specific settings, as repository_create and repository_update take them."""

    # Proxy repositories.
    upstream_url = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=f"Proxy: the upstream simple index (default {DEFAULT_UPSTREAM_URL}).",
    )
    upstream_username = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    upstream_password = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        allow_null=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Proxy: sent to the upstream, never shown back; empty or null clears it.",
    )
    cache_ttl = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Proxy: seconds a fetched page counts as fresh; null: the default.",
    )
    cooldown_days = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Proxy: files younger than this many days are not listed; null or 0: none.",
    )
    snapshot_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Proxy: nothing uploaded after this."
    )
    allow_rules = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=f"Proxy: {RULES_HELP} When not empty, only these are listed.",
    )
    deny_rules = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=f"Proxy: {RULES_HELP} These are never listed.",
    )
    exempt_names = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Proxy: project names, one per line, that skip the cooldown and snapshot.",
    )
    # Virtual repositories.
    members = serializers.ListField(
        child=_slug(),
        required=False,
        help_text="Virtual: hosted and proxy repository slugs, in the order pages are merged.",
    )
    upload_target = _slug(
        required=False,
        allow_null=True,
        help_text="Virtual: the hosted member uploads to this repository land in; null: none.",
    )


RULES_FIELDS = ("allow_rules", "deny_rules", "exempt_names")


class RepositoryCreateSerializer(_RepositorySettings):
    slug = _slug()
    description = serializers.CharField(allow_blank=True, default="")
    allow_file_deletion = serializers.BooleanField(
        default=True, help_text="Whether files and releases may be deleted (else only yanked)."
    )
    kind = serializers.ChoiceField(choices=RepositoryKind.choices, default=RepositoryKind.HOSTED)


class RepositoryUpdateSerializer(_RepositorySettings):
    slug = _slug(required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    allow_file_deletion = serializers.BooleanField(required=False)
    kind = serializers.ChoiceField(
        choices=RepositoryKind.choices,
        required=False,
        help_text="Never changes; sending another kind is refused.",
    )


# The settings each kind shows; the others read null.
_KIND_FIELDS = {
    RepositoryKind.PROXY: (
        "upstream_url",
        "upstream_username",
        "upstream_password_set",
        "cache_ttl",
        "cooldown_days",
        "snapshot_at",
        *RULES_FIELDS,
    ),
    RepositoryKind.VIRTUAL: ("members", "upload_target"),
}


class RepositorySerializer(serializers.Serializer):
    slug = _slug()
    description = serializers.CharField(allow_blank=True)
    allow_file_deletion = serializers.BooleanField(
        help_text="Whether files and releases may be deleted (else only yanked)."
    )
    kind = serializers.ChoiceField(choices=RepositoryKind.choices)
    max_file_size = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    index_url = serializers.SerializerMethodField()
    upload_url = serializers.SerializerMethodField()
    upstream_url = serializers.SerializerMethodField(
        help_text="Proxy only; a user or password written into the URL is left out."
    )
    upstream_username = serializers.CharField(allow_null=True, help_text="Proxy only.")
    upstream_password_set = serializers.SerializerMethodField(
        help_text="Proxy only: whether a password is stored (it is never shown)."
    )
    cache_ttl = serializers.IntegerField(allow_null=True, help_text="Proxy only.")
    cooldown_days = serializers.IntegerField(allow_null=True, help_text="Proxy only.")
    snapshot_at = serializers.DateTimeField(allow_null=True, help_text="Proxy only.")
    allow_rules = serializers.CharField(allow_null=True, help_text="Proxy only.")
    deny_rules = serializers.CharField(allow_null=True, help_text="Proxy only.")
    exempt_names = serializers.CharField(allow_null=True, help_text="Proxy only.")
    members = serializers.SerializerMethodField(
        help_text="Virtual only: member slugs in merge order."
    )
    upload_target = serializers.SerializerMethodField(
        help_text="Virtual only: the hosted member uploads land in, or null."
    )

    def _urls(self, repository: Repository) -> RepositoryUrls:
        base = self.context["request"].build_absolute_uri("/")
        return repository_urls(repository, base_url=base)

    def get_index_url(self, repository: Repository) -> str:
        return self._urls(repository)["index_url"]

    def get_upload_url(self, repository: Repository) -> str:
        return self._urls(repository)["upload_url"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_upstream_url(self, repository: Repository) -> str:
        return url_without_credentials(repository.upstream_url)

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_upstream_password_set(self, repository: Repository) -> bool:
        return bool(repository.upstream_password)

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_members(self, repository: Repository) -> list[str] | None:
        if repository.kind != RepositoryKind.VIRTUAL:
            return None
        return member_slugs(repository=repository)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_upload_target(self, repository: Repository) -> str | None:
        target = repository.upload_target if repository.upload_target_id else None
        return target.slug if target is not None else None

    def to_representation(self, instance: Repository) -> dict[str, Any]:
        data = super().to_representation(instance)
        shown = _KIND_FIELDS.get(RepositoryKind(instance.kind), ())
        for fields in _KIND_FIELDS.values():
            for name in fields:
                if name not in shown:
                    data[name] = None
        return dict(data)


class RenamedRepositorySerializer(RepositorySerializer):
    former_slugs = FormerSlugSerializer(
        many=True,
        source="former_slug_list",
        help_text="Slugs this repository had, whose URLs still answer: a rename keeps the old "
        "index and upload URLs working for a while.",
    )


class CachedProjectSerializer(serializers.Serializer):
    name = serializers.CharField()
    normalized_name = serializers.CharField()
    found = serializers.BooleanField(help_text="False: the upstream has no such project.")
    file_count = serializers.IntegerField(help_text="Files fetched and stored.")
    stored_bytes = serializers.IntegerField()
    fetched_at = serializers.DateTimeField(
        allow_null=True, help_text="The last time the upstream confirmed the page."
    )
    last_error = serializers.CharField(
        allow_blank=True, help_text="Why the upstream could not be reached lately, if it could not."
    )
    last_error_at = serializers.DateTimeField(allow_null=True)


class PurgeSerializer(serializers.Serializer):
    purged = serializers.IntegerField(help_text="How many cached projects were forgotten.")


class UpstreamOverrideSerializer(serializers.Serializer):
    name = serializers.CharField(source="normalized_name")
    reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class UpstreamOverrideSetSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=True, default="", max_length=1000, help_text="Why, for the audit log."
    )


class ProjectSerializer(serializers.Serializer):
    name = serializers.CharField()
    normalized_name = serializers.CharField()
    status = serializers.ChoiceField(choices=ProjectStatus.choices, help_text="PEP 792")
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProjectStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ProjectStatus.choices,
        help_text="archived: no new uploads; quarantined: no file offered; "
        "deprecated: a warning; active: none of these.",
    )
    reason = serializers.CharField(allow_blank=True, default="", max_length=500)


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


# Webhooks ---------------------------------------------------------------------------------------

EVENT_CHOICES = [(t.value, t.value) for t in EventType]


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    url = serializers.CharField()
    repository = serializers.CharField(
        source="repository.slug",
        default=None,
        allow_null=True,
        help_text="Only this repository's events; null: the whole organization's.",
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))
    active = serializers.BooleanField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class NewWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="Signs every delivery (Wheelhouse-Signature); shown this once."
    )


# The URL as the schema describes it (services check it in full, and resolve its host).
WEBHOOK_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$"


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.RegexField(
        WEBHOOK_URL_PATTERN, max_length=500, help_text="http:// or https://"
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), allow_empty=False
    )
    repository = serializers.SlugField(
        required=False, allow_null=True, default=None, help_text="Limit to one repository."
    )
    description = serializers.CharField(max_length=200, required=False, default="")
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.RegexField(WEBHOOK_URL_PATTERN, max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), required=False, allow_empty=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class DeliveryAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    succeeded = serializers.BooleanField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    body = serializers.CharField(help_text="The JSON body exactly as sent.")
    attempts = DeliveryAttemptSerializer(many=True, source="attempts.all")


class QuotaSerializer(serializers.Serializer):
    storage_limit = serializers.IntegerField(
        allow_null=True, help_text="Bytes the organization's uploads may take; null: no limit."
    )
    storage_used = serializers.IntegerField(
        allow_null=True,
        help_text="Bytes its pending and ready files take (null for a key limited to some "
        "repositories).",
    )
    file_size_limit = serializers.IntegerField(
        allow_null=True, help_text="Largest file it may upload; null: the server's limit."
    )


# Trusted publishing ------------------------------------------------------------------------------


class TrustedPublisherSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.ChoiceField(choices=PublisherKind.choices)
    project = serializers.CharField(help_text="The only project it may upload; empty: any.")
    ci_repository = serializers.CharField(
        help_text="GitHub: owner/name. GitLab: namespace/project."
    )
    workflow = serializers.CharField(
        help_text="GitHub: the workflow's filename. GitLab: the CI configuration's path."
    )
    environment = serializers.CharField()
    owner_id = serializers.CharField(help_text="GitHub: the owner account's immutable id.")
    ci_repository_id = serializers.CharField(help_text="GitHub: the repository's immutable id.")
    issuer = serializers.CharField(help_text="GitLab and other issuers: the issuer's URL.")
    audience = serializers.CharField()
    required_claims = serializers.DictField(child=serializers.CharField())
    description = serializers.CharField(source="describe")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


def _optional(field: type[serializers.CharField], *args: Any, **kwargs: Any) -> Any:
    return field(*args, required=False, default="", allow_blank=True, **kwargs)


class _PublisherCreateSerializer(serializers.Serializer):
    project = _optional(
        serializers.RegexField, PROJECT_NAME_PATTERN, max_length=200,
        help_text="Limit uploads to this project; empty: any project of the repository.",
    )  # fmt: skip


class GitHubPublisherCreateSerializer(_PublisherCreateSerializer):
    kind = serializers.ChoiceField(choices=[PublisherKind.GITHUB.value])
    ci_repository = serializers.RegexField(
        GITHUB_REPOSITORY_PATTERN, max_length=300, help_text="The repository: owner/name."
    )
    workflow = serializers.RegexField(
        WORKFLOW_FILE_PATTERN, max_length=300, help_text="Its filename in .github/workflows/."
    )
    environment = _optional(
        serializers.CharField, max_length=255,
        help_text="Only jobs in this deployment environment; empty: any.",
    )  # fmt: skip
    owner_id = _optional(
        serializers.RegexField, NUMERIC_ID_PATTERN, max_length=40,
        help_text="The owner account's numeric id (recorded at first use when empty).",
    )  # fmt: skip
    ci_repository_id = _optional(
        serializers.RegexField, NUMERIC_ID_PATTERN, max_length=40,
        help_text="The repository's numeric id (recorded at first use when empty).",
    )  # fmt: skip


class GitLabPublisherCreateSerializer(_PublisherCreateSerializer):
    kind = serializers.ChoiceField(choices=[PublisherKind.GITLAB.value])
    ci_repository = serializers.RegexField(
        CI_REPOSITORY_PATTERN, max_length=300,
        help_text="The project's path: namespace/project, groups included.",
    )  # fmt: skip
    workflow = _optional(
        serializers.RegexField, WORKFLOW_PATTERN, max_length=300,
        help_text="The CI configuration's path (default .gitlab-ci.yml).",
    )  # fmt: skip
    environment = _optional(
        serializers.CharField, max_length=255,
        help_text="Only jobs in this deployment environment; empty: any.",
    )  # fmt: skip
    issuer = _optional(
        serializers.RegexField, ISSUER_PATTERN, max_length=300,
        help_text="The GitLab instance (default https://gitlab.com).",
    )  # fmt: skip


class OidcPublisherCreateSerializer(_PublisherCreateSerializer):
    kind = serializers.ChoiceField(choices=[PublisherKind.OIDC.value])
    issuer = serializers.RegexField(ISSUER_PATTERN, max_length=300, help_text="The issuer's URL.")
    audience = _optional(
        serializers.CharField, max_length=300,
        help_text="The `aud` its tokens carry (default: this registry's).",
    )  # fmt: skip
    required_claims = serializers.DictField(
        child=serializers.CharField(max_length=500), allow_empty=False,
        help_text="Claims the token must carry with exactly these values (at least one).",
    )  # fmt: skip


class PublisherKindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PublisherKind.choices)


# Plain strings as keys: the schema (YAML) is written from them.
PUBLISHER_CREATE_BODIES: dict[str, type[serializers.Serializer]] = {
    PublisherKind.GITHUB.value: GitHubPublisherCreateSerializer,
    PublisherKind.GITLAB.value: GitLabPublisherCreateSerializer,
    PublisherKind.OIDC.value: OidcPublisherCreateSerializer,
}
# The same, as the schema names the shapes (drf-spectacular's type for it).
PUBLISHER_CREATE_SERIALIZERS: dict[str, serializers.Serializer | type[serializers.Serializer]] = {
    **PUBLISHER_CREATE_BODIES
}


# Download analytics and retention (analytics) ---------------------------------------------------


class DownloadsPeriod(serializers.Serializer):
    days = serializers.ChoiceField(
        choices=[30, 90], required=False, default=30, help_text="The last 30 or 90 days."
    )


class DownloadSeriesSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A version (as its files name it) or an installer.")
    total = serializers.IntegerField()
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Downloads per day, oldest first."
    )


class ProjectDownloadsSerializer(serializers.Serializer):
    days = serializers.ListField(child=serializers.DateField(), help_text="The period's days.")
    total = serializers.IntegerField(help_text="Distributions downloaded in the period.")
    metadata_reads = serializers.IntegerField(help_text="PEP 658 `.metadata` files read.")
    by_version = DownloadSeriesSerializer(many=True)
    by_installer = DownloadSeriesSerializer(
        many=True, help_text="pip, uv, poetry, pdm or other, from the User-Agent."
    )
    last_downloaded = serializers.DictField(
        child=serializers.DateTimeField(),
        help_text="Version: when a file of it was last downloaded (ever).",
    )


class TopProjectSerializer(serializers.Serializer):
    repository = serializers.CharField()
    project = serializers.CharField()
    downloads = serializers.IntegerField()


class OrganizationDownloadsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    downloads = serializers.IntegerField(help_text="Distributions downloaded in the period.")
    all_time = serializers.IntegerField()
    storage_bytes = serializers.IntegerField()
    file_count = serializers.IntegerField()
    top_projects = TopProjectSerializer(many=True)


class RetentionPolicySerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Applied daily when on.")
    keep_finals = serializers.IntegerField(
        allow_null=True, min_value=1, help_text="Final releases kept per project; null: all."
    )
    prerelease_days = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text="Dev, pre and local versions older than this are deleted; null: never.",
    )
    protect_downloaded_days = serializers.IntegerField(
        min_value=0, help_text="A release downloaded within this many days is never deleted."
    )
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_run_outcome = serializers.CharField(read_only=True)


class RetentionCandidateSerializer(serializers.Serializer):
    project = serializers.CharField()
    version = serializers.CharField(source="release.version")
    filenames = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()


class RetentionPlanSerializer(serializers.Serializer):
    filenames = serializers.ListField(
        child=serializers.CharField(), help_text="Every file applying the policy now deletes."
    )
    releases = RetentionCandidateSerializer(many=True)
