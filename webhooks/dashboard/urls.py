"""Routes for webhook pages, under orgs/<org>/webhooks/."""

from __future__ import annotations

from django.urls import path

from webhooks.dashboard import views

org = "orgs/<slug:org>"
hook = f"{org}/webhooks/<int:webhook_id>"

urlpatterns = [
    path(f"{org}/webhooks/", views.webhooks, name="org-webhooks"),
    path(f"{org}/webhooks/new/", views.webhook_created, name="webhook-created"),
    path(f"{hook}/", views.webhook_detail, name="webhook-detail"),
    path(f"{hook}/test/", views.webhook_test, name="webhook-test"),
    path(f"{hook}/delete/", views.webhook_delete, name="webhook-delete"),
    path(
        f"{hook}/deliveries/<int:delivery_id>/redeliver/",
        views.webhook_redeliver,
        name="webhook-redeliver",
    ),
]
