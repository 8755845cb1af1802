from __future__ import annotations

from django.contrib import admin

from registry.models import File
from registry.models import Project
from registry.models import Release
from registry.models import Repository


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ("slug", "organization", "kind", "max_file_size", "created_at")
    list_filter = ("kind",)
    search_fields = ("slug", "organization__slug")
    # An upstream's password is stored to talk to it and never shown back, here neither;
    # settings change through the dashboard or the API, whose services audit them.
    exclude = ("upstream_password",)
    readonly_fields = (
        "kind",
        "upstream_url",
        "upstream_username",
        "upload_target",
        "config_serial",
    )


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "normalized_name", "repository", "created_at")
    search_fields = ("normalized_name",)
    list_select_related = ("repository__organization",)


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("project", "version", "yanked", "created_at")
    list_filter = ("yanked",)
    search_fields = ("project__normalized_name", "version")
    list_select_related = ("project",)


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ("filename", "repository", "status", "size", "uploaded_at")
    list_filter = ("status", "packagetype")
    search_fields = ("filename", "sha256")
    list_select_related = ("repository__organization",)
    readonly_fields = ("sha256", "blake2_256", "md5", "storage_key", "metadata_sha256")
