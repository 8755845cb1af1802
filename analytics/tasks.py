"""Background work of the analytics app. Thin: each task calls one function below it."""

from __future__ import annotations

from celery import shared_task

from analytics.retention import retention_apply_all


@shared_task(acks_late=True)
def retention_apply_task() -> dict[str, int]:
    """Celery beat, daily: every repository's enabled retention policy, applied."""
    return retention_apply_all()
