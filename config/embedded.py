"""The embedded default's web server (`manage.py serve`): waitress, in a few processes that share
one listening socket the parent opened.

Why waitress and not gunicorn's threads: gunicorn's gthread worker hands a connection to a
thread as soon as its headers arrive, and the thread then blocks reading the body, so a few
clients trickling uploads held every thread (issue 14: 12 slow clients cut throughput to a
tenth, 15 denied it). Waitress reads whole requests in its event loop, spooling bodies over
512 KB to a temporary file, and gives a thread only a complete request; it writes responses
from the loop too (a file served with `wsgi.file_wrapper` is read from disk as the client takes
it, never held in memory). A slow client costs a socket, not a thread.

    python -m config.embedded --fd N [--threads 4]
"""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

logger = logging.getLogger("waitress")

# What a client gets when it stopped sending in the middle of a request: a status and a reason,
# not a silently closed connection.
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
REQUEST_TIMEOUT_REASON = b"The request was not received in time: the client stopped sending.\n"


class Server(TcpWSGIServer):
    """Waitress on an inherited listening socket."""

    def maintenance(self, now: int) -> None:
        """Waitress's own (close connections idle for channel_timeout), except that a
        connection idle in the middle of a request is answered 408 before it is closed."""
        cutoff = now - self.adj.channel_timeout
        # A dict of channels (typeshed's stub says one channel).
        channels: dict[int, HTTPChannel] = self.active_channels  # type: ignore[assignment]
        for channel in list(channels.values()):
            if channel.requests or channel.last_activity >= cutoff:
                continue
            if channel.request is None or channel.request.empty:
                channel.will_close = True
                continue
            payload = REQUEST_TIMEOUT % (len(REQUEST_TIMEOUT_REASON), REQUEST_TIMEOUT_REASON)
            # No task runs on this channel (it has no complete request): the loop owns it.
            with channel.outbuf_lock:
                channel.outbufs[-1].append(payload)
                channel.current_outbuf_count += len(payload)
                channel.total_outbufs_len += len(payload)
            channel.close_when_flushed = True
            logger.info(
                "408 to %s: nothing received for %ss in the middle of a request",
                channel.addr, self.adj.channel_timeout,
            )  # fmt: skip


def build(listener: socket.socket, app: Any, **options: Any) -> Server:
    adj = Adjustments(sockets=[listener], **options)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    sockinfo = (listener.family, listener.type, listener.proto, listener.getsockname())
    return Server(
        app, {}, True, listener, dispatcher=dispatcher, adj=adj, bind_socket=False,
        sockinfo=sockinfo,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from django.conf import settings  # noqa: PLC0415  (after the arguments: --help needs no Django)

    from config.wsgi import application  # noqa: PLC0415
    from uploads.web import MULTIPART_OVERHEAD  # noqa: PLC0415

    listener = socket.socket(fileno=args.fd)
    timeout = settings.REQUEST_IDLE_TIMEOUT
    server = build(
        listener,
        application,
        threads=args.threads,
        # A connection that sends nothing for this long is closed (408 mid-request).
        channel_timeout=timeout,
        # How often that is looked at (whole seconds): about a tenth of the timeout.
        cleanup_interval=max(1, min(30, timeout // 10)),
        # Slow clients cost a connection each, so allow many (waitress's default is 100 per
        # process), and poll() rather than select(), which stops at 1024 descriptors.
        connection_limit=1000,
        asyncore_use_poll=True,
        # The largest body the app takes (uploads/web.py), as deploy/nginx.conf's limit: the
        # app refuses a file too large with its own reason; this stops a body larger than any
        # upload could be before it fills the disk.
        max_request_body_size=(
            settings.MAX_UPLOAD_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + MULTIPART_OVERHEAD
        ),
        # The settings decide which proxy headers to trust (TRUSTED_PROXY_COUNT,
        # BEHIND_TLS_PROXY), as under gunicorn: waitress must pass them through untouched.
        clear_untrusted_proxy_headers=False,
        ident="wheelhouse",
    )
    logger.info("serving on %s with %s threads", listener.getsockname(), args.threads)
    server.run()


if __name__ == "__main__":
    main()
