"""`manage.py retention [--dry-run] [--repository ORG/REPO]`: apply the enabled retention
policies now (what Celery beat does daily), or list the files they would delete."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.core.management.base import CommandError
from django.core.management.base import CommandParser

from analytics.models import RetentionPolicy
from analytics.retention import retention_apply_all
from analytics.retention import retention_plan


class Command(BaseCommand):
    help = "Apply the repositories' retention policies, or list what they would delete."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list the files, one per line; delete none"
        )
        parser.add_argument(
            "--repository", metavar="ORG/REPO", help="only this repository's policy (dry runs "
            "list it even while it is disabled)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        policies = RetentionPolicy.objects.select_related("repository__organization")
        if options["repository"]:
            org, _, repo = options["repository"].partition("/")
            policies = policies.filter(repository__organization__slug=org, repository__slug=repo)
            if not policies.exists():
                raise CommandError(f"Repository '{options['repository']}' has no retention policy.")
        else:
            policies = policies.filter(enabled=True)
        if options["dry_run"]:
            for policy in policies.order_by("repository__organization__slug", "repository__slug"):
                plan = retention_plan(repository=policy.repository, policy=policy)
                for doomed in plan.releases:
                    for filename in doomed.filenames:
                        self.stdout.write(f"{policy.repository}\t{filename}\t{doomed.reason}")
            return
        if options["repository"]:
            raise CommandError("--repository is for dry runs; applying runs every enabled policy.")
        for repository, count in retention_apply_all().items():
            self.stdout.write(f"{repository}: deleted {count} files")
