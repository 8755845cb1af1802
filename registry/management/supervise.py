"""Run the commands given as JSON ({"commands": [argument lists], "pass_fds": [inherited file
descriptors they share, such as a listening socket]}) until a signal or one of them exits, then
stop them all; exit 1 if one failed.

`manage.py serve` execs this file by path once Django has migrated and greeted: the process
that only watches its children then weighs a few megabytes instead of Django's hundred. So it
imports nothing of the project (nor Django), only the standard library."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from types import FrameType


def supervise(commands: list[list[str]], pass_fds: tuple[int, ...] = ()) -> int:
    children = [subprocess.Popen(command, pass_fds=pass_fds) for command in commands]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    sys.exit(supervise(spec["commands"], tuple(spec.get("pass_fds", ()))))
