"""`/healthz`: can this instance serve, and which of its parts can it reach?

Load balancers and orchestrators ask it whether to send the instance traffic (HAProxy's
health check, Kubernetes' probes), so it answers 503 only when the instance cannot serve: its
database or its storage is out. The cache and the broker are reported, never a 503: the
instance goes on without them by design (pages from the database, core.cache; uploads
acknowledged and sent to a worker by the sweep once the broker is back). Every instance shares
one Redis, so a 503 for it would take all of them out together, and turn a slowdown into an
outage of everything (issue 14: a Redis outage behind HAProxy answered every request 503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from config.celery import app as celery_app
from registry.storage import packages_storage

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _storage() -> None:
    # Any answer, found or not, proves the storage is reachable and the credentials work.
    packages_storage().exists("healthz")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
    "storage": _storage,
}
# The parts it goes on without; any other part out is a 503.
OPTIONAL = frozenset({"cache", "broker"})


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("healthz: %s unreachable: %s", name, exc)
            # Details go to the log only: this endpoint is unauthenticated.
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
    healthy = all(r["ok"] for name, r in results.items() if name not in OPTIONAL)
    degraded = sorted(name for name, r in results.items() if not r["ok"] and name in OPTIONAL)
    return JsonResponse(
        {"ok": healthy, "degraded": degraded, "checks": results}, status=200 if healthy else 503
    )
