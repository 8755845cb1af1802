"""/api/v1/: names and slugs in every URL, never database ids."""

from __future__ import annotations

from django.urls import path
from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView
from drf_spectacular.views import SpectacularSwaggerSplitView

from api import errors
from api.views import accounts as a
from api.views import analytics as an
from api.views import publishing as p
from api.views import registry as r
from api.views import webhooks as w

org = "orgs/<slug:org>"
repo = f"{org}/repos/<slug:repo>"
release = f"{repo}/projects/<str:project>/releases/<str:version>"
hook = f"{org}/webhooks/<int:webhook_id>"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (`?script`), so the page runs under
    # the strict Content-Security-Policy (no inline script or style anywhere).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("user/", a.CurrentUserView.as_view(), name="api-user"),
    path("orgs/", a.OrganizationListView.as_view(), name="api-orgs"),
    path(f"{org}/", a.OrganizationView.as_view(), name="api-org"),
    path(f"{org}/usage/", a.UsageView.as_view(), name="api-usage"),
    path(f"{org}/downloads/", an.OrganizationDownloadsView.as_view(), name="api-org-downloads"),
    path(f"{org}/audit/", a.AuditView.as_view(), name="api-audit"),
    path(f"{org}/members/", a.MemberListView.as_view(), name="api-members"),
    path(f"{org}/members/<str:email>/", a.MemberView.as_view(), name="api-member"),
    path(f"{org}/invitations/", a.InvitationListView.as_view(), name="api-invitations"),
    path(f"{org}/invitations/<str:email>/", a.InvitationView.as_view(), name="api-invitation"),
    path(f"{org}/keys/", a.ApiKeyListView.as_view(), name="api-keys"),
    path(f"{org}/keys/<str:public_id>/", a.ApiKeyView.as_view(), name="api-key"),
    path(
        f"{org}/keys/<str:public_id>/rotate/", a.ApiKeyRotateView.as_view(), name="api-key-rotate"
    ),
    path(f"{org}/quota/", w.QuotaView.as_view(), name="api-quota"),
    path(f"{org}/webhooks/", w.WebhookListView.as_view(), name="api-webhooks"),
    path(f"{hook}/", w.WebhookView.as_view(), name="api-webhook"),
    path(f"{hook}/test/", w.WebhookTestView.as_view(), name="api-webhook-test"),
    path(f"{hook}/deliveries/", w.DeliveryListView.as_view(), name="api-webhook-deliveries"),
    path(
        f"{hook}/deliveries/<int:delivery_id>/redeliver/",
        w.RedeliverView.as_view(),
        name="api-webhook-redeliver",
    ),
    path(f"{org}/repos/", r.RepositoryListView.as_view(), name="api-repos"),
    path(f"{repo}/", r.RepositoryView.as_view(), name="api-repo"),
    path(f"{repo}/cache/", r.ProxyCacheView.as_view(), name="api-cache"),
    path(
        f"{repo}/cache/<str:project>/", r.ProxyCacheProjectView.as_view(), name="api-cache-project"
    ),
    path(f"{repo}/overrides/", r.UpstreamOverrideListView.as_view(), name="api-overrides"),
    path(f"{repo}/overrides/<str:project>/", r.UpstreamOverrideView.as_view(), name="api-override"),
    path(f"{repo}/publishers/", p.TrustedPublisherListView.as_view(), name="api-publishers"),
    path(
        f"{repo}/publishers/<int:publisher_id>/",
        p.TrustedPublisherView.as_view(),
        name="api-publisher",
    ),
    path(f"{repo}/projects/", r.ProjectListView.as_view(), name="api-projects"),
    path(f"{repo}/projects/<str:project>/", r.ProjectView.as_view(), name="api-project"),
    path(
        f"{repo}/projects/<str:project>/status/",
        r.ProjectStatusView.as_view(),
        name="api-project-status",
    ),
    path(
        f"{repo}/projects/<str:project>/releases/", r.ReleaseListView.as_view(), name="api-releases"
    ),
    path(
        f"{repo}/projects/<str:project>/downloads/",
        an.ProjectDownloadsView.as_view(),
        name="api-project-downloads",
    ),
    path(f"{repo}/retention/", an.RetentionPolicyView.as_view(), name="api-retention"),
    path(
        f"{repo}/retention/dry-run/", an.RetentionDryRunView.as_view(), name="api-retention-dry-run"
    ),
    path(f"{release}/", r.ReleaseView.as_view(), name="api-release"),
    path(f"{release}/yank/", r.ReleaseYankView.as_view(), name="api-release-yank"),
    path(f"{release}/unyank/", r.ReleaseUnyankView.as_view(), name="api-release-unyank"),
    path(f"{repo}/files/", r.FileListView.as_view(), name="api-files"),
    path(f"{repo}/files/<str:filename>", r.FileView.as_view(), name="api-file"),
    re_path(r"^(?P<rest>[\s\S]*)$", errors.not_found, name="api-not-found"),
]
