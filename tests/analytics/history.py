"""A generated release history for retention: finals, pre-releases, dev builds and a local
version, of several ages, and which of them a policy must delete."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from registry.models import File
from registry.models import Release
from registry.models import Repository
from tests.artifacts import Package
from tests.world import publish

DAYS_OLD = {
    # lib: six finals (2.1 the latest), pre-releases and dev builds old and new, a local one.
    ("lib", "1.0"): 400, ("lib", "1.1"): 300, ("lib", "1.2"): 200, ("lib", "1.3"): 150,
    ("lib", "2.0"): 100, ("lib", "2.1"): 50,
    ("lib", "2.2a1"): 40, ("lib", "2.2.dev3"): 30, ("lib", "2.0+patched"): 20,
    ("lib", "2.2rc1"): 2, ("lib", "2.2.dev9"): 1,
    # tool: one final, an old dev build; beta: only an old pre-release (its latest).
    ("tool", "0.1"): 90, ("tool", "0.2.dev1"): 60,
    ("beta", "0.1a1"): 300,
}  # fmt: skip
WITH_SDIST = {("lib", "1.0"), ("lib", "2.2a1")}
# Downloaded recently (protected) and long ago (not).
RECENTLY_DOWNLOADED = [("lib", "1.2"), ("lib", "2.2.dev3")]
LONG_AGO_DOWNLOADED = [("lib", "1.0")]
POLICY = {"keep_finals": 2, "prerelease_days": 14, "protect_downloaded_days": 30}
# keep 2 finals: 2.1, 2.0 stay; 1.3, 1.2, 1.1, 1.0 go but 1.2 was downloaded recently.
# pre/dev/local older than 14 days: 2.2a1, 2.2.dev3 (downloaded: kept), 2.0+patched,
# tool 0.2.dev1; not 2.2rc1 or 2.2.dev9 (new); never beta 0.1a1 (its latest release).
DELETED = {
    ("lib", "1.0"), ("lib", "1.1"), ("lib", "1.3"), ("lib", "2.2a1"), ("lib", "2.0+patched"),
    ("tool", "0.2.dev1"),
}  # fmt: skip


def build_history(repository: Repository) -> dict[tuple[str, str], list[File]]:
    files: dict[tuple[str, str], list[File]] = {}
    now = timezone.now()
    for (name, version), age in DAYS_OLD.items():
        package = Package(name, version)
        made = [publish(repository, package)]
        if (name, version) in WITH_SDIST:
            made.append(publish(repository, package, sdist=True))
        files[(name, version)] = made
        Release.objects.filter(pk=made[0].release_id).update(created_at=now - timedelta(days=age))
    return files


def filenames(files: dict[tuple[str, str], list[File]], which: set[tuple[str, str]]) -> list[str]:
    return sorted(f.filename for name in which for f in files[name])
