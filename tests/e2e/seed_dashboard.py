"""Content for the browser tests of the dashboard pages, made in the live stack's database
(`manage.py shell -c "from tests.e2e.seed_dashboard import seed; seed()"`): an organization
with an owner, a member and a reader, two repositories, and projects published through the
real upload path, with the metadata pypi.org shows (license, links, classifiers, extras)."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.models import Membership
from accounts.models import User
from accounts.services import organization_create
from core import downloads
from registry.models import Release
from registry.models import Repository
from registry.services import release_yank
from registry.services import repository_get_or_create
from tests.analytics.user_agents import PDM
from tests.analytics.user_agents import PIP
from tests.analytics.user_agents import POETRY
from tests.analytics.user_agents import UV
from tests.artifacts import Package
from tests.world import publish

PASSWORD = "correct-horse-battery-staple-42"
README = """<h1>acme-utils</h1><p>Small helpers for <strong>Acme</strong> services.</p>
<pre><code>from acme_utils import slugify</code></pre>"""
METADATA = {
    "license_expression": "MIT",
    "author": "Ada Lovelace",
    "author_email": "ada@acme.test",
    "project_urls": {
        "Documentation": "https://docs.acme.test/utils",
        "Changelog": "https://docs.acme.test/utils/changes",
        "Issues": "https://git.acme.test/acme/utils/issues",
    },
    "classifiers": [
        "Development Status :: 5 - Production/Stable",
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
    ],
    "keywords": ["slugs", "text"],
    "requires_dist": ["acme-core>=1.0", "rich>=13; extra == 'cli'"],
    "provides_extra": ["cli"],
}


def seed() -> None:
    users = {
        role: User.objects.create_user(f"{role}@acme.test", password=PASSWORD)
        for role in ("owner", "member", "reader")
    }
    org = organization_create(slug="acme", name="Acme", creator=users["owner"])
    for role in ("member", "reader"):
        Membership.objects.create(user=users[role], organization=org, role=role)
    main = repository_get_or_create(organization=org, slug="main", description="Acme's packages")
    internal = repository_get_or_create(organization=org, slug="internal")
    for version in ("0.1.0", "0.2.0", "1.0.0", "2.0.0b1"):
        publish(main, Package("acme-utils", version, summary="Small helpers for Acme services"))
        publish(main, Package("acme-utils", version), sdist=True)
    for i in range(3):
        publish(main, Package(f"svc-lib-{i}", "1.0", summary=f"Service library {i}"))
    publish(internal, Package("acme-core", "1.2", summary="The core of Acme"))
    utils = Release.objects.filter(project__normalized_name="acme-utils")
    utils.update(metadata=METADATA, description_html=README)
    release_yank(
        release=utils.get(version="0.2.0"), actor=users["owner"], reason="Broken on Windows"
    )
    seed_downloads(main)
    print(json.dumps({"password": PASSWORD}))


def seed_downloads(repository: Repository) -> None:
    """Thirty days of acme-utils downloads, counted as the index counts them (core.downloads)
    on each day, by several installers: what the downloads chart draws."""
    now = timezone.now()
    agents = (PIP, UV, POETRY, PDM)
    for day in range(30):
        with time_machine.travel(now - timedelta(days=day), tick=False):
            for i, version in enumerate(("0.1.0", "1.0.0", "2.0.0b1")):
                for j in range((day * 7 + i * 3) % 5 + (3 if version == "1.0.0" else 0)):
                    downloads.record(
                        organization_id=repository.organization_id,
                        repository_id=repository.pk,
                        filename=f"acme_utils-{version}-py3-none-any.whl",
                        key_id=0,
                        user_agent=agents[(day + i + j) % len(agents)],
                    )
    downloads.flush()
