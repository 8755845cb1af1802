"""Errors that services and selectors raise, in the domain's words.

They carry no status code: each interface (the dashboard's HTML, the index, the REST API)
maps them to its own kind of answer in one place. Refusals use Django's own
`PermissionDenied` and invalid input Django's `ValidationError`, which are not HTTP types.
"""

from __future__ import annotations


class NotFound(Exception):
    """Missing, or outside what the actor may see. The two are one error on purpose: a
    foreign tenant's object must be indistinguishable from one that does not exist."""


class Conflict(Exception):
    """The request contradicts the current state (a repository that keeps its files)."""


class Renamed(NotFound):
    """Asked by a former slug that still answers (a renamed organization or repository, within
    its SLUG_ALIAS_DAYS). `slugs` maps the URL's arguments ("org", "repo") to the current
    slugs: pages for people redirect there (core.middleware); an interface that cannot
    redirect answers it as the NotFound it also is."""

    def __init__(self, message: str, *, slugs: dict[str, str]) -> None:
        super().__init__(message)
        self.slugs = slugs
