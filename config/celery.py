from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import deque
from queue import Empty
from typing import Any

from celery import Celery
from celery import bootsteps
from celery.beat import EmbeddedService
from celery.worker import consumer
from click import Option
from django.conf import settings
from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import filesystem
from kombu.transport import redis as redis_transport
from kombu.utils.encoding import bytes_to_str
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from kombu.utils.json import loads
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)

app = Celery("wheelhouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class FolderTransport(filesystem.Transport):
    """kombu's folder broker (the embedded default's), listing the folder once for many
    messages instead of once for each.

    kombu lists and sorts the whole folder for every message it takes, and again whenever a
    queue is found empty (the worker's control queue, at every poll): with 7,000 uploads
    queued that cost 16 ms a message, at 22,000 41 ms, more than processing the file. Here
    one listing, split by queue and in order, is shared by the connection's channels and
    taken from until the queue asked for has nothing left; the folder is then listed again,
    at most once per polling interval (an idle worker still sees a message that soon), and
    at most once a second while another queue consumed here still has messages listed (the
    control queue must not list the folder between every two uploads of a backlog)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listing: dict[str, deque[str]] = {}
        self.listed_at = -float("inf")
        self.asked: set[str] = set()

    class Channel(filesystem.Channel):
        def _get(self, queue: str, timeout: float | None = None) -> Any:
            transport = self.connection
            transport.asked.add(queue)
            names = transport.listing.get(queue)
            if not names:
                # Only queues consumed here count: messages of a queue nobody takes (a
                # reply to a control command long gone) must not slow the listing down.
                busy = any(transport.listing.get(asked) for asked in transport.asked)
                interval = 1.0 if busy else (transport.polling_interval or 0)
                if time.monotonic() - transport.listed_at >= interval:
                    self._list(transport)
                    names = transport.listing.get(queue)
            while names:
                payload = self._take(names.popleft())
                if payload is None:
                    continue
                try:
                    return loads(bytes_to_str(payload))
                except ValueError:
                    # Never a reason to stop the worker (and with it `manage.py serve`): the
                    # message is dropped, and the pending sweep sends its file again.
                    logger.exception("Dropped an unreadable message of queue %s", queue)
            raise Empty()

        def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # kombu's own signature
            """As kombu names it, but written under another name and renamed into place:
            kombu writes the message file where readers look, and a reader that took it
            between its creation and its write read nothing, which stopped the worker."""
            name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
            final = os.path.join(self.data_folder_out, name)
            partial = f"{final}.partial"  # not a .msg: never listed
            try:
                with open(partial, "wb") as partial_file:
                    partial_file.write(str_to_bytes(dumps(payload)))
                os.replace(partial, final)
            except OSError as exc:
                raise ChannelError(f"Cannot add file {final!r} to directory") from exc

        def _list(self, transport: FolderTransport) -> None:
            listing: dict[str, deque[str]] = {}
            for name in sorted(os.listdir(self.data_folder_in)):
                # kombu names a message <time>_<uuid>.<queue>.msg
                queue, _, extension = name.partition(".")[2].rpartition(".")
                if extension == "msg":
                    listing.setdefault(queue, deque()).append(name)
            transport.listing = listing
            transport.listed_at = time.monotonic()

        def _take(self, name: str) -> bytes | None:
            """The message's bytes, once moved out of the queue (as kombu does: a move
            another consumer made first fails, and the message is theirs), or None."""
            folder = self.processed_folder if self.store_processed else tempfile.gettempdir()
            try:
                shutil.move(os.path.join(self.data_folder_in, name), folder)
            except OSError:
                return None
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as message:
                    payload = message.read()
                if not self.store_processed:
                    os.remove(path)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {path!r} from queue.") from exc
            return payload


class RedisTransport(redis_transport.Transport):
    """kombu's Redis transport, whose channels answer a connection error once their
    connection is gone (the transport of redis:// brokers, below).

    When Redis goes away under a worker, Celery collects the lost connection, which leaves
    its channels without one; the channel then restores the messages the worker holds (as it
    closes), or acknowledges a task that finished meanwhile (after the reconnection), through
    that connection, and kombu's AttributeError, being no connection error, stopped the whole
    worker ("Unrecoverable error") whenever Redis went away under a task (issue 14). As a
    connection error it is logged and passed over: the message stays in Redis's unacked set,
    which gives it back after the visibility timeout; its file was finished, or is sent
    again by the sweep sooner."""

    class Channel(redis_transport.Channel):
        def _connparams(self, asynchronous: bool = False) -> Any:
            if self.connection.client is None:
                raise RedisConnectionError("this channel's broker connection is closed")
            return super()._connparams(asynchronous)


# Every redis:// (and rediss://) broker URL names it, in every process (a setting naming the
# transport would also apply to a URL of another scheme, such as the tests' memory://).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "config.celery:RedisTransport"


class Consumer(consumer.Consumer):
    """The worker's consumer, trying a broker that went away again every
    BROKER_RECONNECT_SECONDS for as long as it is away (CELERY_WORKER_CONSUMER).

    Celery waits 2 s longer after each failed attempt, up to 30 s (kombu's defaults, which no
    setting changes), and gives up after 100: after a 30 s Redis outage the workers came back
    12 s after Redis did, and the uploads acknowledged meanwhile waited for them (issue 14).
    An attempt costs one refused connection; giving up would only stop the worker, which
    has nothing else to do."""

    def ensure_connected(self, conn: Any) -> Any:
        ensure = conn.ensure_connection
        every = settings.BROKER_RECONNECT_SECONDS

        def ensure_connection(
            errback: Any = None, max_retries: int | None = None, **kwargs: Any
        ) -> Any:
            return ensure(
                errback, None, interval_start=every, interval_step=0, interval_max=every, **kwargs
            )

        conn.ensure_connection = ensure_connection
        return super().ensure_connected(conn)


class BeatThread(bootsteps.StartStopStep):
    """`worker --beat-thread`: the periodic sweeps scheduled by a thread of the worker.

    For the embedded default (`manage.py serve`): `--beat` forks a second process the size of
    the worker (about 70 MB resident) for a scheduler that wakes a few times a minute.
    Production runs beat as a process of its own (docker-compose.yml)."""

    def __init__(self, parent: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = beat_thread
        super().__init__(parent, **kwargs)

    def start(self, parent: Any) -> None:
        self.service = EmbeddedService(parent.app, thread=True)
        self.service.start()

    def stop(self, parent: Any) -> None:
        self.service.stop()


app.user_options["worker"].add(
    Option(["--beat-thread"], is_flag=True, default=False, help=BeatThread.__doc__)
)
app.steps["worker"].add(BeatThread)
