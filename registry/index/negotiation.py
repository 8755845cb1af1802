"""PEP 691 content negotiation: which serialization of a simple page a client gets."""

from __future__ import annotations

from collections.abc import Sequence

HTML = "text/html"
V1_HTML = "application/vnd.pypi.simple.v1+html"
V1_JSON = "application/vnd.pypi.simple.v1+json"

# The server's preference on a q-value tie, as Warehouse: HTML first, so `*/*` gets HTML.
OFFERS: tuple[str, ...] = (HTML, V1_HTML, V1_JSON)

# Meta-versions answer with the concrete v1 type (PEP 691 §Content-Types).
ALIASES = {
    "application/vnd.pypi.simple.latest+html": V1_HTML,
    "application/vnd.pypi.simple.latest+json": V1_JSON,
}


class NotAcceptable(ValueError):
    """A `?format=` naming a serialization this index does not offer."""


def media_type_select(*, accept: str, format_param: str | None) -> str:
    """The media type to answer with: `?format=` first, then Accept by q-value, else HTML.

    No Accept header, or one matching nothing we offer, gets HTML (never 406), which is what
    Warehouse does and what hatch's and browsers' requests need.
    """
    if format_param:
        # An unencoded `+` in a typed URL arrives as a space; media types never hold one.
        format_param = format_param.strip().replace(" ", "+")
        wanted = ALIASES.get(format_param, format_param)
        if wanted not in OFFERS:
            raise NotAcceptable(
                f"Unsupported format {format_param!r}; use one of {', '.join(OFFERS)}."
            )
        return wanted
    ranges = _parse_accept(accept)
    best, best_q = HTML, 0.0
    for offer in OFFERS:
        q = _quality(offer, ranges)
        if q > best_q:
            best, best_q = offer, q
    return best


def _parse_accept(header: str) -> list[tuple[str, float]]:
    ranges = []
    for item in header.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value.strip())))
                except ValueError:
                    q = 0.0
        media = media.lower()
        ranges.append((ALIASES.get(media, media), q))
    return ranges


def _quality(offer: str, ranges: Sequence[tuple[str, float]]) -> float:
    """The q of the most specific range matching `offer` (RFC 9110 §12.5.1)."""
    kind = offer.split("/", 1)[0]
    best_specificity, q = -1, 0.0
    for media, range_q in ranges:
        if media == offer:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, q = specificity, range_q
    return q
