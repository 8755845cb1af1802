from __future__ import annotations

from django.contrib import admin
from django.urls import include
from django.urls import path

from config.health import healthz
from publishing import views as publishing_views
from registry.index import views as registry_views
from uploads import views as upload_views

repo = "<slug:org>/<slug:repo>"

urlpatterns = [
    # The index and uploads first: installers are most of the traffic, and Django tries the
    # patterns in order. No dashboard URL has their shape (its prefixes are reserved slugs).
    path(f"{repo}/simple/", registry_views.simple_index, name="simple-index"),
    path(f"{repo}/simple/<str:project>/", registry_views.simple_project, name="simple-project"),
    path(f"{repo}/files/<str:sha256>/<str:filename>", registry_views.file_download, name="file"),
    path(f"{repo}/pypi/<str:project>/json", registry_views.project_json, name="project-json"),
    path(
        f"{repo}/pypi/<str:project>/<str:version>/json",
        registry_views.project_json,
        name="release-json",
    ),
    path(
        f"{repo}/legacy/+simple/<str:project>/",
        registry_views.upload_simple_project,
        name="upload-simple-project",
    ),
    # Upload clients do not follow redirects: both spellings take the POST.
    path(f"{repo}/legacy/", upload_views.upload, name="upload"),
    path(f"{repo}/legacy", upload_views.upload, name="upload-noslash"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    # Dashboard pages (sessions); their prefixes are reserved organization slugs.
    path("", include("accounts.dashboard.urls")),
    path("", include("registry.dashboard.urls")),
    path("", include("webhooks.dashboard.urls")),
    path("", include("analytics.urls")),
    # Trusted publishing, at the host root where uv, pdm and gh-action-pypi-publish look.
    path("_/oidc/audience", publishing_views.oidc_audience, name="oidc-audience"),
    path("_/oidc/mint-token", publishing_views.mint_token, name="oidc-mint-token"),
    path("", include("publishing.urls")),
    # PyPI's per-issuer mint URLs (/_/oidc/github/mint-token ...) are not served here.
    path("_/oidc/<path:rest>", upload_views.oidc_not_supported, name="oidc-not-supported"),
]
