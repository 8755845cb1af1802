"""The Warehouse-shaped JSON API (`/pypi/<project>/json`, `/pypi/<project>/<version>/json`)
that Renovate and other tooling read. Cached per project serial like the simple pages."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from registry.index.simple import Page
from registry.index.simple import cached_page
from registry.index.simple import files_base
from registry.index.simple import upload_time
from registry.models import File
from registry.models import Project
from registry.models import ProjectStatus
from registry.models import Release
from registry.models import Repository
from registry.names import latest_release
from registry.names import normalize_version
from registry.selectors import ready_files_by_release

CONTENT_TYPE = "application/json"
# Core metadata fields (packaging's raw names) copied into `info` as they are.
INFO_FIELDS = {
    "summary": "summary",
    "description": "description",
    "description_content_type": "description_content_type",
    "keywords": "keywords",
    "license": "license",
    "license_expression": "license_expression",
    "license_files": "license_files",
    "classifiers": "classifiers",
    "author": "author",
    "author_email": "author_email",
    "maintainer": "maintainer",
    "maintainer_email": "maintainer_email",
    "requires_python": "requires_python",
    "requires_dist": "requires_dist",
    "provides_extra": "provides_extra",
    "platform": "platforms",
    "home_page": "home_page",
    "download_url": "download_url",
    "project_urls": "project_urls",
    "dynamic": "dynamic",
}
LIST_FIELDS = {"classifiers", "license_files", "provides_extra", "dynamic"}


def project_json_page(
    *, repository: Repository, project: Project, version: str | None, origin: str
) -> Page | None:
    """The project (latest release) or one of its versions; None when that version is absent."""
    origin_tag = hashlib.sha256(origin.encode()).hexdigest()[:8]
    which = "all" if version is None else f"v-{hashlib.sha256(version.encode()).hexdigest()[:12]}"
    tag = f"w{repository.pk}.{project.pk}.{project.serial}.{which}.{origin_tag}"

    def render() -> bytes:
        releases = _releases_with_files(project)
        if version is None:
            release = latest_release(releases)
        else:
            wanted = normalize_version(version)
            release = next((r for r in releases if r.canonical_version == wanted), None)
        if release is None:
            return b""  # cached too: a miss costs no query until the project changes
        data = _document(
            repository, project, releases, release, whole=version is None, origin=origin
        )
        return json.dumps(data, separators=(",", ":")).encode()

    page = cached_page(tag, CONTENT_TYPE, render)
    return page if page.body else None


def _releases_with_files(project: Project) -> dict[Release, list[File]]:
    # PEP 792: a quarantined project offers no distributions at all.
    if project.status == ProjectStatus.QUARANTINED:
        return {}
    return ready_files_by_release(project=project)


def _document(
    repository: Repository,
    project: Project,
    releases: dict[Release, list[File]],
    release: Release,
    *,
    whole: bool,
    origin: str,
) -> dict[str, Any]:
    base = f"{origin}{files_base(repository)}"
    root = (
        f"{origin}/{repository.organization.slug}/{repository.slug}/pypi/{project.normalized_name}"
    )
    data: dict[str, Any] = {
        "info": _info(project, release, root),
        "last_serial": project.serial,
        "urls": [_file(f, base) for f in releases[release]],
        "vulnerabilities": [],
    }
    if whole:
        data["releases"] = {r.version: [_file(f, base) for f in fs] for r, fs in releases.items()}
    return data


def _info(project: Project, release: Release, root: str) -> dict[str, Any]:
    metadata = release.metadata or {}
    info: dict[str, Any] = {
        out: metadata.get(raw, [] if out in LIST_FIELDS else None)
        for out, raw in INFO_FIELDS.items()
    }
    keywords = metadata.get("keywords")
    info.update(
        name=project.name,
        version=release.version,
        summary=release.summary or metadata.get("summary"),
        requires_python=release.requires_python or None,
        keywords=", ".join(keywords) if isinstance(keywords, list) else keywords,
        bugtrack_url=None,
        docs_url=None,
        downloads={"last_day": -1, "last_month": -1, "last_week": -1},
        package_url=f"{root}/",
        project_url=f"{root}/",
        release_url=f"{root}/{release.version}/",
        yanked=release.yanked,
        yanked_reason=release.yanked_reason or None,
    )
    return info


def _file(file: File, base: str) -> dict[str, Any]:
    return {
        "comment_text": "",
        "core-metadata": {"sha256": file.metadata_sha256} if file.metadata_sha256 else False,
        "digests": {"md5": file.md5, "sha256": file.sha256, "blake2b_256": file.blake2_256},
        "downloads": -1,
        "filename": file.filename,
        "has_sig": False,
        "md5_digest": file.md5,
        "packagetype": file.packagetype,
        "python_version": file.python_version,
        "requires_python": file.requires_python or None,
        "size": file.size,
        "upload_time": file.uploaded_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": upload_time(file.uploaded_at),
        "url": f"{base}{file.sha256}/{file.filename}",
        "yanked": file.release.yanked,
        "yanked_reason": file.release.yanked_reason or None,
    }
