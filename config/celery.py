from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery import bootsteps
from celery.beat import EmbeddedService
from click import Option

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("wheelhouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class BeatThread(bootsteps.StartStopStep):
    """`worker --beat-thread`: the periodic sweeps scheduled by a thread of the worker.

    For the embedded default (`manage.py serve`): `--beat` forks a second process the size of
    the worker (about 70 MB resident) for a scheduler that wakes a few times a minute.
    Production runs beat as a process of its own (docker-compose.yml)."""

    def __init__(self, parent: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = beat_thread
        super().__init__(parent, **kwargs)

    def start(self, parent: Any) -> None:
        self.service = EmbeddedService(parent.app, thread=True)
        self.service.start()

    def stop(self, parent: Any) -> None:
        self.service.stop()


app.user_options["worker"].add(
    Option(["--beat-thread"], is_flag=True, default=False, help=BeatThread.__doc__)
)
app.steps["worker"].add(BeatThread)
