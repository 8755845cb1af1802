from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.base import CommandParser

from accounts.models import Organization
from accounts.services import user_get_or_create
from registry.provisioning import tenant_provision

SUPERVISOR = Path(__file__).resolve().parent.parent / "supervise.py"
DEMO = {"org_slug": "demo", "repo_slug": "main", "email": "demo@example.com"}


class Command(BaseCommand):
    help = (
        "Run the whole registry on this machine: migrate, create a demo tenant on first start, "
        "then serve HTTP with waitress and process uploads with a Celery worker and beat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        base_url = os.environ.get("PUBLIC_URL") or f"http://{_display_host(host)}:{port}"
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._greet(base_url)
        worker = ["worker", "--beat-thread", "--pool", "solo", "--loglevel", "INFO"]
        # The web processes (config/embedded.py: waitress, which reads whole requests before a
        # thread sees them) share one listening socket, opened here and inherited.
        listener = _listen(host, port)
        web = [sys.executable, "-m", "config.embedded", "--fd", str(listener.fileno()),
               "--threads", "4"]  # fmt: skip
        commands = [
            [sys.executable, "-m", "celery", "-A", "config", *worker],
            *([web] * options["web_workers"]),
        ]
        os.environ["PUBLIC_URL"] = base_url
        sys.stdout.flush()
        sys.stderr.flush()
        # This process only watches the others from now on: it becomes a small one that loads
        # neither Django nor the project (about 100 MB less, resident for as long as it runs).
        spec = {"commands": commands, "pass_fds": [listener.fileno()]}
        os.execv(sys.executable, [sys.executable, str(SUPERVISOR), json.dumps(spec)])  # noqa: S606

    def _greet(self, base_url: str) -> None:
        if not Organization.objects.exists():
            # A password for the demo owner, so the dashboard can be seen at once; it is the
            # operator's own machine, and it is shown once, like the key.
            password = secrets.token_urlsafe(12)
            user_get_or_create(email=DEMO["email"], password=password)
            demo = tenant_provision(
                org_slug=DEMO["org_slug"],
                repo_slug=DEMO["repo_slug"],
                email=DEMO["email"],
                base_url=base_url,
                key_name="demo",
            )
            self.stdout.write("First start: created a demo organization and an upload key.")
            self.stdout.write(json.dumps(demo, indent=2))
            self.stdout.write(
                "The key is shown only now. Mint another any time with:\n"
                f"  python manage.py provision --org demo --repo main --email {DEMO['email']}"
            )
            self.stdout.write(
                f"Log in to the dashboard at {base_url}/accounts/login/\n"
                f"  email:    {DEMO['email']}\n"
                f"  password: {password}   (shown only now; change it under Account)"
            )
        self.stdout.write(f"Registry at {base_url}/  (data in {settings.DATA_DIR})")
        if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
            # Sign-up and reset links arrive by mail; without SMTP they are files, not logs.
            self.stdout.write(
                f"  mail:   written to files in {getattr(settings, 'EMAIL_FILE_PATH', '')} "
                "(set EMAIL_URL to send)"
            )
        self.stdout.write(f"  index:  {base_url}/demo/main/simple/")
        self.stdout.write(f"  upload: {base_url}/demo/main/legacy/")
        self.stdout.flush()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that child processes inherit."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.create_server(address, family=family, backlog=1024)
    listener.set_inheritable(True)
    return listener


def _display_host(host: str) -> str:
    return "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host  # noqa: S104
