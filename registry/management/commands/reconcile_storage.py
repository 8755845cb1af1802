from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.core.management.base import BaseCommand
from django.core.management.base import CommandParser

from registry.reconcile import storage_reconcile


class Command(BaseCommand):
    help = (
        "Delete stored objects no file names and abort unfinished S3 multipart uploads, of "
        "those older than the grace period (what the hourly task does); print the counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            metavar="SECONDS",
            help="only what is older than this (default: STORAGE_ORPHAN_GRACE_SECONDS); 0 "
            "takes everything unaccounted for, uploads in flight included",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count and log, remove nothing (an invariant check: expect zeros)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = storage_reconcile(grace_seconds=options["grace"], dry_run=options["dry_run"])
        self.stdout.write(json.dumps(dataclasses.asdict(result)))
