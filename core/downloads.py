"""Counting downloads without slowing them: the index calls `record()`, which adds one to a
counter in this process's memory; a background thread hands the counters to a sink every
`DOWNLOAD_FLUSH_SECONDS` (the analytics app registers one that adds them to daily rows).

Nothing on the download path waits for a database, a cache or a lock held across I/O: a
download costs a dictionary update. What a process had not flushed when it dies is lost,
which counting allows; a slower download is not allowed. The buffer is bounded, so a sink
that keeps failing cannot grow a worker's memory: past the bound, new counters are dropped.

This module imports no app (core is the lowest layer): the index records through it, the
analytics app above the registry reads what it flushes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

# Distinct counters one process keeps between flushes; beyond it new ones are dropped.
MAX_COUNTERS = 50_000
DAY = 86400


@dataclass(frozen=True)
class Counter:
    """What one counter counts: downloads of one file on one day by one kind of client."""

    day: int  # days since the epoch (UTC)
    organization_id: int
    repository_id: int  # the repository holding the file (a virtual one's member)
    filename: str  # with `.metadata` for PEP 658 metadata files
    key_id: int  # 0: no key (a dashboard session)
    user_agent: str


@dataclass(frozen=True)
class Tally:
    count: int
    last_at: float  # seconds since the epoch of the last one counted


Sink = Callable[[dict[Counter, Tally]], None]

_lock = threading.Lock()
_counts: dict[tuple[int, int, int, str, int, str], list[float]] = {}
_sink: Sink | None = None
_flusher_started = False
_stop = threading.Event()


def _forked() -> None:
    """A forked process (a gunicorn worker) starts empty, with a lock of its own (one held at
    the fork would stay held), and starts its own flushing thread (threads do not fork)."""
    global _lock, _counts, _flusher_started
    _lock = threading.Lock()
    _counts = {}
    _flusher_started = False


os.register_at_fork(after_in_child=_forked)


def set_sink(sink: Sink | None) -> None:
    """Where flushed counters go (the analytics app sets it when Django starts)."""
    global _sink
    _sink = sink


def record(
    *, organization_id: int, repository_id: int, filename: str, key_id: int, user_agent: str
) -> None:
    """Count one download. Never raises, never blocks on anything but a short lock."""
    if not settings.DOWNLOAD_COUNTING:
        return
    now = time.time()
    # A client could send a megabyte of User-Agent: only its head is kept (and parsed).
    name = (int(now // DAY), organization_id, repository_id, filename, key_id, user_agent[:512])
    with _lock:
        entry = _counts.get(name)
        if entry is not None:
            entry[0] += 1
            entry[1] = now
        elif len(_counts) < MAX_COUNTERS:
            _counts[name] = [1, now]
    if not _flusher_started:
        _start_flusher()


def take() -> dict[Counter, Tally]:
    """Everything counted since the last take, emptied out of the buffer."""
    global _counts
    with _lock:
        taken, _counts = _counts, {}
    return {Counter(*name): Tally(int(entry[0]), entry[1]) for name, entry in taken.items()}


def flush() -> int:
    """Hand what was counted to the sink now; the number of counters handed over. A failing
    sink loses them (logged): counting never stops the downloads it counts."""
    taken = take()
    if not taken or _sink is None:
        return 0
    try:
        _sink(taken)
    except Exception:
        logger.exception("Lost %d download counters: the sink failed", len(taken))
        return 0
    return len(taken)


def _start_flusher() -> None:
    """One flushing thread per process, only when flushing on a timer is on: in-process tests
    flush by hand, inside their transaction."""
    global _flusher_started
    interval = settings.DOWNLOAD_FLUSH_SECONDS
    with _lock:
        if _flusher_started:
            return
        _flusher_started = True
    if interval <= 0:
        return
    thread = threading.Thread(
        target=_flush_every, args=(interval,), name="download-counters", daemon=True
    )
    thread.start()


def _flush_every(interval: float) -> None:
    while not _stop.wait(interval):
        flush()
        # This thread's own connections: the sink's queries must not hold one open between
        # flushes (PostgreSQL counts it; SQLite would keep its file locked).
        connections.close_all()


@atexit.register
def _flush_at_exit() -> None:
    # A worker stopped gracefully (gunicorn's max-requests, a deploy) hands over what it has.
    if _flusher_started and settings.DOWNLOAD_FLUSH_SECONDS > 0:
        flush()
