"""Caches as a speed-up, never a dependency, and the generations that keep them right.

Three caches:
- "default" (config.settings.CACHES): rendered index pages by content tag (Redis; this
  process's memory embedded);
- "shared" (CACHES): what every process of a deployment must see alike: failure counters and
  the generations below (Redis; files under DATA_DIR embedded);
- the local store here: this process's memory, for what the hot path keeps under generation
  names. Live objects, not pickled copies (a Django cache unpickles on every read, which was
  a quarter of a warm request): callers must treat what they read as read-only.

**Outages.** Every operation goes through `guarded`: when a cache fails, the caller gets its
fallback (the database path, which is always right) and the cache is left alone for
CACHE_RETRY_SECONDS, so a dead Redis costs one timeout per process per interval, not one per
request.

**Generations.** A generation is a random token in the shared cache naming the current state of
something (an organization's access rules, a project name's content). Entries derived from that
state are stored under names that include the token; when the state changes the token is
replaced (`renew`), and every process reads the new one on its next request, so no entry from
before the change is ever read again, whichever process holds it. A reader that took the old
token while the change committed can only store under the old name, which nobody reads any
more. A missing token (evicted, or the cache restarted) is created anew: a miss, never a stale
answer. A replacement lost to a fault between commit and replacement is bounded by the lifetime
of the entries (HOT_CACHE_SECONDS).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from typing import TypeVar

from cachetools import TLRUCache
from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT = "default"
SHARED = "shared"

_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def guarded(alias: str, operation: Callable[[BaseCache], T], fallback: T) -> T:
    """`operation` on the cache `alias`, or `fallback` while that cache is out."""
    if time.monotonic() < _down_until.get(alias, 0.0):
        return fallback
    try:
        return operation(caches[alias])
    except Exception:
        with _down_lock:
            first = time.monotonic() >= _down_until.get(alias, 0.0)
            _down_until[alias] = time.monotonic() + settings.CACHE_RETRY_SECONDS
        if first:
            logger.warning(
                "Cache %r unavailable; going without it for %ss",
                alias,
                settings.CACHE_RETRY_SECONDS,
                exc_info=True,
            )
        return fallback


@receiver(setting_changed)
def _caches_reconfigured(setting: str, **kwargs: object) -> None:
    # Other caches now (as Django's own cache handler resets): their past failures say nothing.
    if setting == "CACHES":
        _down_until.clear()


# The local store ---------------------------------------------------------------------------------

# Bounded by an estimate of the bytes it holds: a page by its body, anything else as small.
_LOCAL_ITEM_BYTES = 2048
_local_lock = threading.Lock()
_local: TLRUCache[str, tuple[float, object]] = TLRUCache(
    maxsize=settings.LOCAL_CACHE_BYTES,
    ttu=lambda _key, value, now: now + value[0],
    getsizeof=lambda value: len(getattr(value[1], "body", b"")) + _LOCAL_ITEM_BYTES,
)


def local_get(name: str) -> Any:
    """What this process kept under `name`, or None (never kept, expired or evicted)."""
    with _local_lock:
        found = _local.get(name)
    return None if found is None else found[1]


def local_set(name: str, value: object, seconds: float) -> None:
    """Keep `value` in this process for `seconds` at most (sooner gone if the store is full)."""
    if seconds <= 0:
        return
    with _local_lock:
        _local[name] = (seconds, value)


# Generations ------------------------------------------------------------------------------------


def access_generation_key(org_slug: str) -> str:
    """Everything deciding who may do what in the organization: its keys (and their limits),
    members, repositories (and their settings), the organization itself."""
    return f"gen:a:{org_slug}"


def content_generation_key(org_slug: str, normalized_name: str | None) -> str:
    """What the index shows of one project name in the organization, in any repository (a
    virtual repository merges its members' projects of that name); None: the list of
    projects (the root pages)."""
    return f"gen:c:{org_slug}:{normalized_name or '/'}"


def generations(keys: list[str]) -> list[str] | None:
    """The current token of each generation (created where missing), or None while the
    shared cache is out (then nothing may be cached by generation)."""

    def read(cache: BaseCache) -> list[str]:
        found = cache.get_many(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            # add() keeps a token another process created meanwhile; re-read to agree on it.
            for key in missing:
                cache.add(key, secrets.token_hex(8), timeout=None)
            found |= cache.get_many(missing)
        return [str(found[k]) for k in keys]

    return guarded(SHARED, read, None)


def renew(keys: Iterable[str]) -> None:
    """Replace these generations now, and again once the current transaction commits.

    Now, so that this transaction's own later reads (and a test, which never commits) see
    the change; after the commit, because a reader that took the first new token before the
    commit may have stored what it read of the old state under it."""
    names = sorted(set(keys))
    if not names:
        return

    def replace() -> None:
        tokens = {name: secrets.token_hex(8) for name in names}
        guarded(SHARED, lambda cache: cache.set_many(tokens, timeout=None), None)

    replace()
    transaction.on_commit(replace)
