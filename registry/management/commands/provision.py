from __future__ import annotations

import argparse
import json
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.core.management.base import CommandError
from django.core.management.base import CommandParser

from accounts.models import KeyScope
from registry.models import RepositoryKind
from registry.provisioning import tenant_provision

# Options of each kind: (option dest, the repository setting it sets).
PROXY_OPTIONS = {
    "upstream": "upstream_url",
    "upstream_username": "upstream_username",
    "upstream_password": "upstream_password",
    "cache_ttl": "cache_ttl",
    "cooldown_days": "cooldown_days",
    "snapshot": "snapshot_at",
}
VIRTUAL_OPTIONS = {"members": "members", "upload_target": "upload_target"}


def _snapshot_date(value: str) -> datetime:
    """`YYYY-MM-DD`: the start of that day, UTC (files uploaded after it are not listed)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def _slugs(value: str) -> list[str]:
    return [slug.strip() for slug in value.split(",") if slug.strip()]


class Command(BaseCommand):
    help = (
        "Create (or reuse) an organization, repository and user, mint an API key, and print "
        "them with the index and upload URLs as JSON. --kind proxy or virtual creates a proxy "
        "of an upstream index or a virtual repository; run again, it updates the settings given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--repo", required=True, help="repository slug")
        parser.add_argument("--email", required=True, help="the user who owns the organization")
        parser.add_argument("--org-name", default="", help="display name (default: the slug)")
        parser.add_argument("--key-name", default="provisioned")
        parser.add_argument(
            "--scope", choices=[s.value for s in KeyScope], default=KeyScope.UPLOAD.value
        )
        parser.add_argument(
            "--base-url", default=settings.PUBLIC_URL, help="public URL of this registry"
        )
        parser.add_argument(
            "--kind", choices=RepositoryKind.values, default=RepositoryKind.HOSTED.value
        )
        proxy = parser.add_argument_group("proxy repositories (--kind proxy)")
        proxy.add_argument("--upstream", help="the upstream simple index URL (default: PyPI)")
        proxy.add_argument("--upstream-username")
        proxy.add_argument(
            "--upstream-password", help="stored to talk to the upstream, never printed"
        )
        proxy.add_argument("--cache-ttl", type=int, help="seconds a fetched page stays fresh")
        proxy.add_argument(
            "--cooldown-days", type=int, help="list upstream files only this many days old"
        )
        proxy.add_argument(
            "--snapshot",
            type=_snapshot_date,
            metavar="YYYY-MM-DD",
            help="list nothing uploaded after this date (UTC)",
        )
        virtual = parser.add_argument_group("virtual repositories (--kind virtual)")
        virtual.add_argument(
            "--members", type=_slugs, help="member repository slugs, in merge order: a,b,c"
        )
        virtual.add_argument("--upload-target", help="the hosted member uploads land in")
        virtual.add_argument(
            "--allow-upstream",
            action="append",
            default=[],
            metavar="NAME",
            help="list upstream versions of this private project name too (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        given = {
            setting: options[dest]
            for dest, setting in {**PROXY_OPTIONS, **VIRTUAL_OPTIONS}.items()
            if options[dest] is not None
        }
        foreign = {
            RepositoryKind.HOSTED: {**PROXY_OPTIONS, **VIRTUAL_OPTIONS},
            RepositoryKind.PROXY: VIRTUAL_OPTIONS,
            RepositoryKind.VIRTUAL: PROXY_OPTIONS,
        }[RepositoryKind(kind)]
        misplaced = [f"--{d.replace('_', '-')}" for d in foreign if options[d] is not None]
        if options["allow_upstream"] and kind != RepositoryKind.VIRTUAL:
            misplaced.append("--allow-upstream")
        if misplaced:
            raise CommandError(f"{', '.join(misplaced)}: not a setting of --kind {kind}.")
        try:
            result = tenant_provision(
                org_slug=options["org"],
                repo_slug=options["repo"],
                email=options["email"],
                base_url=options["base_url"],
                org_name=options["org_name"],
                key_name=options["key_name"],
                scope=options["scope"],
                kind=kind,
                settings=given,
                allow_upstream=options["allow_upstream"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise CommandError(f"{options['email']} may not set this up: {exc}") from None
        self.stdout.write(json.dumps(result, indent=2))
