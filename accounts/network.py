"""Where a request comes from, and whether that is inside a key's allowed networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address. X-Forwarded-For is believed only behind a configured proxy chain,
    and then only the entry our own nearest proxy appended, never one the client wrote."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


def ip_in_networks(address: str, networks: Iterable[str]) -> bool:
    """Whether `address` lies in any of `networks`; an unparsable address lies in none."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def networks_within(networks: Iterable[str], bounds: Iterable[str]) -> bool:
    """Whether every network of `networks` lies inside one of `bounds`. No networks means
    anywhere, which lies inside bounds only when there are none; an unparsable one, in none."""
    wanted = list(networks)
    limits = [ipaddress.ip_network(b, strict=False) for b in bounds]
    if not limits:
        return True
    if not wanted:
        return False
    for text in wanted:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return False
        if not any(net.version == b.version and net.subnet_of(b) for b in limits):  # type: ignore[arg-type]
            return False
    return True
