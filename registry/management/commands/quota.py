"""`manage.py quota --org acme [--storage 10GB|none] [--file-size 200MB|none]`: an
organization's quotas, set or cleared by the operator; without a change, shown."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.core.management.base import CommandError
from django.core.management.base import CommandParser

from accounts.models import Organization
from registry.quotas import KEEP
from registry.quotas import parse_size
from registry.quotas import quota_set
from registry.quotas import storage_used

CLEAR = {"none", "off", "unlimited"}


def _size_or_none(value: str) -> int | None:
    if value.strip().lower() in CLEAR:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = "Show, set or clear an organization's storage and file-size quotas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument(
            "--storage",
            type=_size_or_none,
            default=KEEP,
            help="Storage for its uploaded files (10GB, 500MB; 'none' clears it).",
        )
        parser.add_argument(
            "--file-size",
            type=_size_or_none,
            default=KEEP,
            help="Largest file it may upload (200MB; 'none' clears it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization '{options['org']}'.")
        if options["storage"] is not KEEP or options["file_size"] is not KEEP:
            try:
                quota_set(
                    organization=organization,
                    storage=options["storage"],
                    file_size=options["file_size"],
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            json.dumps(
                {
                    "organization": organization.slug,
                    "storage_quota": organization.storage_quota,
                    "max_file_size": organization.max_file_size,
                    "storage_used": storage_used(organization.pk),
                }
            )
        )
