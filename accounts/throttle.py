"""Failed logins and key checks counted per source address; too many in a window get 429.

The counter lives in the cache (Redis in production, local memory embedded), in fixed windows:
cheap, shared by every web process that shares the cache, and forgotten on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _fail_open(operation: Callable[[], T], fallback: T) -> T:
    """Run a cache operation; on a cache outage, log and answer `fallback`.

    The throttle is a defence, not a dependency: a Redis outage must not take installs and
    uploads down with it, so while the cache is unreachable nobody is held back.
    """
    try:
        return operation()
    except Exception:
        logger.warning("Throttle cache unavailable; not throttling", exc_info=True)
        return fallback


@dataclass(frozen=True)
class Limit:
    failures: int
    window: int


def _limit(scope: str) -> Limit:
    failures, window = settings.AUTH_FAILURE_LIMITS[scope]
    return Limit(failures=failures, window=window)


def _key(scope: str, source: str, limit: Limit) -> tuple[str, int]:
    now = int(time.time())
    bucket = now // limit.window
    retry_after = (bucket + 1) * limit.window - now
    return f"auth-failures:{scope}:{source}:{bucket}", max(retry_after, 1)


def throttle_retry_after(*, scope: str, source: str) -> int | None:
    """Seconds until `source` may try again, or None if it is not being held back."""
    limit = _limit(scope)
    key, retry_after = _key(scope, source, limit)
    count = _fail_open(lambda: cache.get(key, 0), 0)
    return retry_after if count >= limit.failures else None


def throttle_failure(*, scope: str, source: str) -> None:
    """Count one failed attempt from `source`."""
    limit = _limit(scope)
    key, _ = _key(scope, source, limit)
    _fail_open(lambda: _count(key, limit), None)


def _count(key: str, limit: Limit) -> None:
    # add() is a no-op when the counter exists; incr() is atomic on Redis.
    cache.add(key, 0, timeout=limit.window + 1)
    try:
        cache.incr(key)
    except ValueError:
        # The window ended between add() and incr(); start the next one.
        cache.set(key, 1, timeout=limit.window + 1)


def throttle_reset(*, scope: str, source: str) -> None:
    """Forget the failures counted for `source` in the current window."""
    key, _ = _key(scope, source, _limit(scope))
    _fail_open(lambda: cache.delete(key), None)
