from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The index counts through core.downloads, which imports no app; flushed counters
        # come here, to the daily rows.
        from analytics.recording import add_counters  # noqa: PLC0415  (models are loaded now)
        from core import downloads  # noqa: PLC0415

        downloads.set_sink(add_counters)
