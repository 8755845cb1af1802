"""Where a webhook may send: http(s) URLs, and (unless WEBHOOK_ALLOW_PRIVATE_TARGETS) only to
public addresses, checked when the webhook is saved and again at every delivery.

A URL that resolved to a public address when it was saved may resolve to 127.0.0.1 or a
cloud metadata address later (DNS rebinding), so each attempt resolves the name itself,
refuses any non-public answer, and connects to the address it checked (the Host header and
TLS server name stay the URL's), never resolving it a second time. Redirects are never
followed: a public URL could otherwise send the request on to a private one.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValidationError):
    """The URL may not be sent to; the message says why, in one line."""


def url_check(url: str) -> SplitResult:
    """The URL's parts, if it is one a webhook may have: http or https, a host, no user or
    password written into it (the list pages show URLs; the secret signs instead)."""
    if any(not "!" <= c <= "~" for c in url.strip()):
        raise TargetRefused(
            "A webhook URL is plain ASCII without spaces (percent-encode anything else)."
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise TargetRefused(f"Not a valid URL: {url!r}.") from None
    if parts.scheme not in {"http", "https"}:
        raise TargetRefused("A webhook URL must start with http:// or https://.")
    if not parts.hostname:
        raise TargetRefused("A webhook URL must name a host.")
    if parts.username or parts.password:
        raise TargetRefused("A webhook URL may not carry a user or password; the secret signs.")
    return parts


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not private, loopback, link-local
    (cloud metadata), shared (CGNAT), reserved, multicast or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"The webhook's host {host!r} does not resolve ({exc}).") from None
    # Scope ids (fe80::1%eth0) are dropped: such addresses are link-local, refused anyway.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`, None when private targets are allowed
    and the name is left to the HTTP client) and what to call the host."""

    url: str
    parts: SplitResult
    address: IPAddress | None

    @property
    def connect_url(self) -> str:
        """The URL with its host replaced by the checked address (the URL itself if none)."""
        if self.address is None:
            return self.url
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        port = f":{self.parts.port}" if self.parts.port else ""
        return self.parts._replace(netloc=f"{host}{port}").geturl()

    @property
    def host_header(self) -> str:
        return self.parts.netloc


def target_resolve(url: str) -> Target:
    """Check the URL and, unless private targets are allowed, resolve its host now: every
    address it resolves to must be public, and the first is the one to connect to."""
    parts = url_check(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return Target(url=url, parts=parts, address=None)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused or not addresses:
        shown = refused[0] if refused else "nothing"
        raise TargetRefused(
            f"The webhook's host {host!r} resolves to {shown}, a private, loopback or "
            "link-local address; webhooks may only be sent to public addresses."
        )
    return Target(url=url, parts=parts, address=addresses[0])
