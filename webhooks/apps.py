from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The apps that emit events never import this one (imports flow downward): it
        # subscribes to them here, at the bottom layer's hook (core.events).
        from core.events import subscribe  # noqa: PLC0415 - apps are ready only now
        from webhooks.services import deliveries_create_for  # noqa: PLC0415

        subscribe(deliveries_create_for)
