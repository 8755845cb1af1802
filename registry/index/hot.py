"""The index's steady state: a key, its repository, a page or a file answered from memory.

Installers read far more than anyone writes: every CI job resolves against the index, many
times a day, and each read would cost the key (with its organization and user), the
repository, the key's limits and the project before the page itself. Here the outcome of
those lookups is kept in this process's memory (core.cache's local store) under names that
carry two generations read from the cache every process shares (core.cache):

- the organization's access generation, renewed when anything deciding access in it is
  written (keys and their limits, members, repositories and their settings, the
  organization): a revoked, rotated or narrowed key is refused on the very next request, in
  every process;
- the content generation of the project name the request is about (its page, or the file's
  project), renewed when what the index shows of that name changes in any repository of the
  organization (a virtual repository merges its members' pages of one name), and the root
  pages' own generation when the list of projects may have changed.

So a warm request costs one read of the shared cache (both generations at once) and no query.

**Former slugs.** A renamed organization's old slug S answers as the new one T for a while
(accounts.models.OrganizationSlugAlias). The first request at S finds that out on the full
path and keeps "S is T" in memory under S's access generation (renewed whenever an alias of
the organization or its slug changes); later requests at S read S's access generation
together with T's two, in the same single read, and use T's: the same pages and the same
key changes apply as at T, for the same cost. A repository's old slug needs nothing of its
own: the key's entry is named by the URL's slugs, and its repository is the current one.
Entries reached through a former slug also hold when it expires, checked on every hit.
What the cache cannot know is checked on every hit: a key's expiry and its allowed networks.
Only keys are served this way; a dashboard session takes the full path. While the shared
cache is out, everything takes the full path, which is always right.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.authentication import token_from_authorization
from accounts.models import ApiKey
from accounts.network import ip_in_networks
from accounts.services import LAST_USED_RESOLUTION
from accounts.services import api_key_used
from core.cache import DEFAULT
from core.cache import access_generation_key
from core.cache import content_generation_key
from core.cache import generations
from core.cache import guarded
from core.cache import local_get
from core.cache import local_set
from registry.index.simple import Page
from registry.index.simple import page_cache_key
from registry.listings import Stored
from registry.models import Repository
from registry.names import distribution_of
from registry.names import normalize_name

# Pages larger than this are kept once in the "default" cache (by tag), not in every process.
LOCAL_PAGE_LIMIT = 64 * 1024
# A page that is known not to exist (a 404 for a name this repository does not hold).
ABSENT = "absent"


@dataclass(frozen=True)
class Generations:
    """The two tokens a request's entries are named with, and the organization slug they are
    the generations of (the current one, when the URL's is a former slug known here)."""

    access: str
    content: str
    org: str


@dataclass
class Access:
    """What the full path found for one key on one repository and action; `until`: when the
    former slug it was asked by stops answering (None: current slugs)."""

    api_key: ApiKey
    repository: Repository
    until: datetime | None = None


@dataclass(frozen=True)
class _Alias:
    """A former organization slug, as the full path found it: its current slug, the former
    slug's access generation then, and when it stops answering."""

    current: str
    token: str
    until: datetime


def subject_name(view_kwargs: dict[str, Any]) -> str | None:
    """The normalized project name a request is about, None for the root page."""
    if "project" in view_kwargs:
        return normalize_name(view_kwargs["project"])
    if "filename" in view_kwargs:
        found = distribution_of(view_kwargs["filename"].removesuffix(".metadata"))
        return normalize_name(found[0]) if found else ""
    return None


def generations_for(org: str, name: str | None) -> Generations | None:
    """The generations to name this request's entries with: `org`'s own, or, for a former slug
    known here, its current slug's (read at once with the former slug's, which says whether
    what is known still holds)."""
    alias: _Alias | None = local_get(f"hot:o:{org}")
    if alias is not None and alias.until > timezone.now():
        keys = [
            access_generation_key(org),
            access_generation_key(alias.current),
            content_generation_key(alias.current, name),
        ]
        tokens = generations(keys)
        if tokens is None:
            return None
        if tokens[0] == alias.token:
            return Generations(tokens[1], tokens[2], alias.current)
    tokens = generations([access_generation_key(org), content_generation_key(org, name)])
    return Generations(tokens[0], tokens[1], org) if tokens is not None else None


def alias_put(gen: Generations, *, org: str, current: str, until: datetime) -> None:
    """Keep "`org` is now `current`" under `org`'s access generation (`gen`, read before the
    lookup that found it): any change of the organization's slugs renews that generation."""
    if gen.org == org:
        seconds = min(settings.HOT_CACHE_SECONDS, (until - timezone.now()).total_seconds())
        local_set(f"hot:o:{org}", _Alias(current=current, token=gen.access, until=until), seconds)


def _keep(name: str, value: object, seconds: int | None) -> None:
    limit = settings.HOT_CACHE_SECONDS
    local_set(name, value, limit if seconds is None else min(seconds, limit))


# Keys and repositories --------------------------------------------------------------------------


def _access_name(gen: Generations, org: str, repo: str, action: str, token: str) -> str:
    # The whole token is hashed into the name: a wrong secret can never match an entry.
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    return f"hot:a:{gen.access}:{org}:{repo}:{action}:{digest}"


def access_get(
    gen: Generations, *, org: str, repo: str, action: str, authorization: str, source_ip: str
) -> Access | None:
    """The key and repository this request was let through with before, or None."""
    token = token_from_authorization(authorization)
    if token is None:
        return None
    name = _access_name(gen, org, repo, action, token)
    found: Access | None = local_get(name)
    if found is None:
        return None
    api_key = found.api_key
    if found.until is not None and found.until <= timezone.now():
        return None
    # Time and place change without a write: the full path refuses (and audits) these.
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return None
    if api_key.allowed_networks and not ip_in_networks(source_ip, api_key.allowed_networks):
        return None
    last = api_key.last_used_at
    if last is None or timezone.now() - last >= LAST_USED_RESOLUTION:
        # Sets last_used_at on the kept object itself: this process writes once a minute.
        api_key_used(api_key=api_key)
    return found


def access_put(
    gen: Generations,
    *,
    org: str,
    repo: str,
    action: str,
    authorization: str,
    api_key: ApiKey,
    repository: Repository,
    until: datetime | None,
) -> None:
    token = token_from_authorization(authorization)
    if token is not None:
        name = _access_name(gen, org, repo, action, token)
        _keep(name, Access(api_key=api_key, repository=repository, until=until), None)


# Pages and files --------------------------------------------------------------------------------


def _page_name(gen: Generations, repository: Repository, name: str | None, media: str) -> str:
    return f"hot:p:{gen.access}:{gen.content}:{repository.pk}:{name or '/'}:{media}"


def page_get(
    gen: Generations | None, *, repository: Repository, name: str | None, media: str
) -> Page | str | None:
    """The page as last rendered, ABSENT for a known 404, or None (not known here)."""
    if gen is None:
        return None
    found = local_get(_page_name(gen, repository, name, media))
    if isinstance(found, tuple):  # a large page: its tag and type; the body is shared
        tag, content_type = found
        body = guarded(DEFAULT, lambda cache: cache.get(page_cache_key(tag)), None)
        return Page(body=body, content_type=content_type, etag=f'"{tag}"') if body else None
    return found


def page_put(
    gen: Generations | None,
    *,
    repository: Repository,
    name: str | None,
    media: str,
    page: Page | str,
    fresh_for: int | None,
) -> None:
    """Keep the page (or ABSENT) for as long as its generations hold, `fresh_for` seconds at
    most (an upstream's copy must be asked again when its time is up; 0 keeps nothing)."""
    if gen is None:
        return
    value: object = page
    if isinstance(page, Page) and len(page.body) > LOCAL_PAGE_LIMIT:
        value = (page.etag.strip('"'), page.content_type)
    _keep(_page_name(gen, repository, name, media), value, fresh_for)


def _file_name(gen: Generations, repository: Repository, sha256: str, filename: str) -> str:
    return f"hot:f:{gen.access}:{gen.content}:{repository.pk}:{sha256}:{filename}"


def stored_get(
    gen: Generations | None, *, repository: Repository, sha256: str, filename: str
) -> Stored | None:
    """Where a file (or `<file>.metadata`) served before is kept, or None."""
    if gen is None:
        return None
    found: Stored | None = local_get(_file_name(gen, repository, sha256, filename))
    return found


def stored_put(
    gen: Generations | None, *, repository: Repository, sha256: str, filename: str, stored: Stored
) -> None:
    if gen is not None:
        _keep(_file_name(gen, repository, sha256, filename), stored, None)
