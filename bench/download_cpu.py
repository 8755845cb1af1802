"""CPU time per download with download counting on and off, in one process: a warm wheel
download through Django's WSGI handler (bench/profile_page.py's set-up: the embedded default,
no server, no network), in alternating blocks of each, counting's flushing thread running as
in production (every DOWNLOAD_FLUSH_SECONDS, default 10).

    .venv/bin/python bench/download_cpu.py [--blocks 10] [--requests 2000]

CPU time is what other processes on a busy machine disturb least (bench/downloads.py's
throughput over HTTP swings by half between runs on a loaded machine); this is the figure
that says what counting costs a download. Prints the median CPU microseconds per request of
each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings

from bench.profile_page import warm_request  # sets up Django on the embedded default
from core import downloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10, help="blocks of each, alternating")
    parser.add_argument("--requests", type=int, default=2000, help="downloads per block")
    args = parser.parse_args()
    one = warm_request("{file}")
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for block in range(args.blocks * 2):
        counting = block % 4 in (0, 3)  # on, off, off, on, ...: neither always goes first
        settings.DOWNLOAD_COUNTING = counting
        started = time.process_time()
        for _ in range(args.requests):
            one()
        cpu[counting].append((time.process_time() - started) / args.requests * 1e6)
    downloads.flush()
    on, off = statistics.median(cpu[True]), statistics.median(cpu[False])
    # Models load once bench.profile_page has set Django up, which isort would put after this.
    from analytics.models import DailyDownloads  # noqa: PLC0415

    counted = sum(DailyDownloads.objects.values_list("count", flat=True))
    print(f"{args.blocks} blocks of {args.requests} warm wheel downloads each way, one process")
    print("| counting | CPU us per download (median) | blocks (us) |")
    print("|---|---|---|")
    for label, median, found in (("on", on, cpu[True]), ("off", off, cpu[False])):
        print(f"| {label} | {median:.1f} | {', '.join(f'{v:.0f}' for v in found)} |")
    print(f"\non/off CPU per download: {on / off:.3f} ({(on / off - 1) * 100:+.1f}%)")
    print(f"downloads counted: {counted} of {args.blocks * args.requests + 101} with counting on")


if __name__ == "__main__":
    main()
