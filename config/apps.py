"""The admin app, on Wheelhouse's own site (config.admin_site: a throttled log-in)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "config.admin_site.AdminSite"
