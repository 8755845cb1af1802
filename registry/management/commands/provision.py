from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.core.management.base import CommandError
from django.core.management.base import CommandParser

from accounts.models import KeyScope
from registry.provisioning import tenant_provision


class Command(BaseCommand):
    help = (
        "Create (or reuse) an organization, repository and user, mint an API key, and print "
        "them with the index and upload URLs as JSON."
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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = tenant_provision(
                org_slug=options["org"],
                repo_slug=options["repo"],
                email=options["email"],
                base_url=options["base_url"],
                org_name=options["org_name"],
                key_name=options["key_name"],
                scope=options["scope"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(json.dumps(result, indent=2))
