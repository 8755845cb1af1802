"""The project page as pypi.org users expect it: what the release is about, its history with
pre-release and yanked markers, a page per version, files with copyable hashes, install lines."""

from __future__ import annotations

from typing import Any

import pytest

from registry.models import Release
from registry.names import normalize_version
from tests.world import World
from tests.world import _ready_file
from tests.world import as_user

pytestmark = pytest.mark.django_db

PROJECT = "/orgs/acme/repos/main/projects/acme-lib/"
METADATA = {
    "license_expression": "MIT OR Apache-2.0",
    "author": "Ada Lovelace",
    "author_email": "ada@acme.test",
    "maintainer_email": "Acme Team <team@acme.test>",
    "project_urls": {
        "Documentation": "https://docs.acme.test/lib",
        "Trap": "javascript:alert(1)",
    },
    "home_page": "https://acme.test",
    "classifiers": ["Programming Language :: Python :: 3", "License :: OSI Approved"],
    "keywords": ["acme", "tools"],
    "requires_dist": [
        "acme-tools[fast]>=2.0",
        "requests>=2; python_version < '3.12'",
        "globex-sentinel-lib",
    ],
    "provides_extra": ["fast"],
}


@pytest.fixture(autouse=True)
def public_url(settings: Any) -> None:
    settings.PUBLIC_URL = "https://packages.example.com"


def text(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def releases(world: World) -> dict[str, Release]:
    """acme-lib 1.0 (the world's), 1.1 with full metadata, 2.0b1 (pre-release), 3.0 yanked;
    acme-tools lives in the organization's other repository."""
    first = Release.objects.get(pk=world.file.release_id)
    project = first.project
    made = {"1.0": first}
    for version, extra in (("1.1", {}), ("2.0b1", {}), ("3.0", {"yanked": True})):
        made[version] = Release.objects.create(
            project=project,
            version=version,
            canonical_version=normalize_version(version),
            summary="Acme's library",
            requires_python=">=3.10",
            metadata=METADATA,
            **extra,
        )
    _ready_file(world.repo_a2, "acme-tools")
    return made


def test_it_shows_the_latest_final_release_with_what_it_is_about(
    world: World, releases: dict[str, Release]
) -> None:
    page = text(as_user(world, "reader").get(PROJECT))
    # Latest is the newest final, non-yanked release: not 3.0 (yanked), not 2.0b1.
    assert "<dt>Latest version</dt><dd>1.1</dd>" in page
    assert (
        "pip install --index-url https://packages.example.com/acme/main/simple/ acme-lib==1.1"
        in page
    )
    assert "uv pip install --index-url" in page
    assert "poetry add --source acme-main acme-lib==1.1" in page
    assert "<dt>License</dt><dd><code>MIT OR Apache-2.0</code></dd>" in page
    assert "<dt>Author</dt><dd>Ada Lovelace, ada@acme.test</dd>" in page
    assert "<dt>Maintainer</dt><dd>Acme Team &lt;team@acme.test&gt;</dd>" in page
    assert (
        '<a href="https://docs.acme.test/lib" rel="nofollow noopener noreferrer">Documentation</a>'
        in page
    )
    assert '<a href="https://acme.test" rel="nofollow noopener noreferrer">Homepage</a>' in page
    assert "javascript:" not in page
    assert "<li>Programming Language :: Python :: 3</li>" in page
    assert "<dt>Requires Python</dt><dd><code>&gt;=3.10</code></dd>" in page
    # A dependency in the same organization links to it, in whichever repository holds it;
    # one elsewhere (or in another organization) is plain text.
    linked = '<a href="/orgs/acme/repos/other/projects/acme-tools/">acme-tools</a>'
    assert f"{linked}[fast] <code>&gt;=2.0</code>" in page
    marker = '<span class="muted">; python_version &lt; &quot;3.12&quot;</span>'
    assert f"<li>requests <code>&gt;=2</code><br>{marker}" in page
    assert "<li>globex-sentinel-lib <code></code>" in page


def test_it_marks_pre_releases_and_yanked_ones_in_the_history(
    world: World, releases: dict[str, Release]
) -> None:
    page = text(as_user(world, "reader").get(PROJECT))
    history = page[page.index("Release history") :]
    order = [history.index(f"<strong>{v}</strong>") for v in ("3.0", "2.0b1", "1.1", "1.0")]
    assert order == sorted(order), "newest version first"
    row = lambda v: history[history.index(f"<strong>{v}</strong>") :].split("</li>")[0]  # noqa: E731
    assert 'badge bad">yanked' in row("3.0")
    assert 'badge warn">pre-release' in row("2.0b1")
    assert 'badge ok">latest' in row("1.1")
    assert "pre-release" not in row("1.0")
    assert "yanked" not in row("1.0")


def test_it_has_a_page_per_version_with_its_files_and_hashes(
    world: World, releases: dict[str, Release]
) -> None:
    reader = as_user(world, "reader")
    old = text(reader.get(f"{PROJECT}versions/1.0/"))
    assert "You are looking at 1.0" in old
    assert "acme-lib==1.0" in old
    assert world.file.filename in old
    assert f'<code id="sha256-{world.file.pk}" class="hash">{world.file.sha256}</code>' in old
    assert f'data-copy="sha256-{world.file.pk}"' in old
    # Any spelling of the version finds it; an unknown one is the styled 404.
    assert "You are looking at 1.0" in text(reader.get(f"{PROJECT}versions/1.0.0/"))
    missing = reader.get(f"{PROJECT}versions/9.9/")
    assert missing.status_code == 404
    assert "Nothing here" in text(missing)
    yanked = text(reader.get(f"{PROJECT}versions/3.0/"))
    assert "You are looking at 3.0, a yanked release" in yanked
    # The latest version's page is the project page's content: no "looking at" notice.
    assert "You are looking at" not in text(reader.get(f"{PROJECT}versions/1.1/"))


def test_it_asks_before_yanking(world: World) -> None:
    page = text(as_user(world, "admin").get(PROJECT))
    assert (
        'data-confirm="Yank acme-lib 1.0? Installers skip it unless pinned to it exactly."' in page
    )


def test_it_deletes_a_release_only_when_its_version_is_typed(
    world: World, releases: dict[str, Release]
) -> None:
    admin = as_user(world, "admin")
    url = f"{PROJECT}versions/1.1/delete/"
    assert "Type <code>1.1</code> to confirm" in text(admin.get(url))
    wrong = admin.post(url, {"confirm": "1.0"})
    assert wrong.status_code == 200
    assert "Type 1.1 to delete this release." in text(wrong)
    assert Release.objects.filter(pk=releases["1.1"].pk).exists()
    done = admin.post(url, {"confirm": "1.1"}, follow=True)
    assert "acme-lib 1.1 deleted" in text(done)
    assert not Release.objects.filter(pk=releases["1.1"].pk).exists()
