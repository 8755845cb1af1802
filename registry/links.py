"""The URLs a client configures for a repository. Pure."""

from __future__ import annotations

from typing import TypedDict
from urllib.parse import urlsplit

from registry.models import Repository


class RepositoryUrls(TypedDict):
    index_url: str
    upload_url: str


def repository_urls(repository: Repository, *, base_url: str) -> RepositoryUrls:
    root = f"{base_url.rstrip('/')}/{repository.organization.slug}/{repository.slug}"
    return {"index_url": f"{root}/simple/", "upload_url": f"{root}/legacy/"}


def url_with_credentials(url: str, token: str) -> str:
    """`https://__token__:<token>@host/...`: how pip and PDM take a key in an index URL."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"__token__:{token}@{parts.netloc}").geturl()


def url_without_credentials(url: str) -> str:
    """The URL without any user or password written into it, to show it to readers."""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()
