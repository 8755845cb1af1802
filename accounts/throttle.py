"""Failed logins and key checks counted per subject (a source address, an account, a key id);
too many in a window get 429.

The counters live in the "shared" cache, in fixed windows: Redis in production, files under
DATA_DIR embedded, so every web process of a host (every gunicorn worker) adds to one count.
Cheap, and forgotten on their own. The throttle is a defence, not a dependency: a cache
outage must not take installs and uploads down with it, so while the cache is unreachable
nobody is held back (core.cache.guarded).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import BaseCache

from core.cache import SHARED
from core.cache import guarded


@dataclass(frozen=True)
class Limit:
    failures: int
    window: int


def _limit(scope: str) -> Limit:
    failures, window = settings.AUTH_FAILURE_LIMITS[scope]
    return Limit(failures=failures, window=window)


def _key(kind: str, scope: str, subject: str, limit: Limit) -> tuple[str, int]:
    now = int(time.time())
    bucket = now // limit.window
    retry_after = (bucket + 1) * limit.window - now
    # Subjects are client-chosen text (an email, a key id): hashed, they make keys of one
    # length and charset for any backend, and the cache holds no addresses in clear.
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{kind}:{scope}:{digest}:{bucket}", max(retry_after, 1)


def throttle_retry_after(*, scope: str, subject: str) -> int | None:
    """Seconds until `subject` may try again, or None if it is not being held back."""
    limit = _limit(scope)
    key, retry_after = _key("auth-failures", scope, subject, limit)
    count = guarded(SHARED, lambda cache: cache.get(key, 0), 0)
    return retry_after if count >= limit.failures else None


def throttle_failure(*, scope: str, subject: str) -> None:
    """Count one failed attempt by `subject`."""
    limit = _limit(scope)
    key, _ = _key("auth-failures", scope, subject, limit)
    guarded(SHARED, lambda cache: _count(cache, key, limit), None)


def _count(cache: BaseCache, key: str, limit: Limit) -> None:
    # add() is a no-op when the counter exists; incr() is atomic on Redis. (The file cache
    # reads and writes: two workers failing at the same instant may count once; near enough.)
    cache.add(key, 0, timeout=limit.window + 1)
    try:
        cache.incr(key)
    except ValueError:
        # The window ended between add() and incr(); start the next one.
        cache.set(key, 1, timeout=limit.window + 1)
    else:
        # Caches without their own incr() write the counter back with their default timeout,
        # which may be shorter than the window.
        cache.touch(key, timeout=limit.window + 1)


def throttle_first(*, scope: str, subject: str) -> bool:
    """Whether this is the first time `subject` comes up in the current window of `scope`
    (to do something at most once a window). While the cache is out, every time is first."""
    limit = _limit(scope)
    key, retry_after = _key("auth-once", scope, subject, limit)
    return guarded(SHARED, lambda cache: cache.add(key, 1, timeout=retry_after + 1), True)
