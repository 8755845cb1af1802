"""`make mutate`: mutation testing of the rules, each mutant against the tests that run it.

mutmut (``[tool.mutmut]`` in pyproject.toml) writes the mutants into mutants/ and names them;
this runs them. `mutmut run` forks every mutant from one process on one test database, so it
can run only one at a time here, and a surviving mutant of a function hundreds of tests call
runs all of them: a whole run took about a day on a 2-core machine. This does the same work
in three steps and about three hours there (0.44 mutants a second on the idle machine):

1. ``generate``: mutmut's own generation (same mutants, same names as ``mutmut show``).
2. ``stats``: the in-process suite once in mutants/ with ``MUTANT_UNDER_TEST=stats``, so
   mutmut's trampolines record which tests call which function, and how long each test takes.
3. ``run``: ``--workers`` processes, each on its own test database, each warmed by collecting
   the suite once and then forking one child per mutant. The child runs, with ``-x``, the tests
   that call the mutated function, the module's own test folder first, then fastest first, at
   most ``--max-tests`` of them. A child that fails a test killed its mutant; one that passes
   them all is a survivor, which a person then kills with a test or explains in
   tests/MUTANTS.md. ``--max-tests`` bounds the cost of a survivor of a function called by
   hundreds of tests; ``recheck`` runs survivors again with every test that calls them.

Results go to mutants/wheelhouse-results.jsonl, one line per mutant; a later run skips the
mutants already there (``--again`` runs them anew). ``report`` prints the score per module
and the survivors.

A kill counts only if the test that failed passes again without the mutant (else the verdict
is "flaky": a timing test failing on a loaded machine proves nothing); ``verify --count N``
runs N kills again to measure how many hold. ``check <mutant> <test ...>`` says whether
those tests kill a mutant (and pass without it).

Usage: python -m tests.mutation_run [generate|stats|run|recheck|report|all|check|verify]
           [--only GLOB ...] [--workers N] [--sample FRACTION --seed N] [--max-tests N]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from mutmut.__main__ import create_mutants
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.state import state
from mutmut.utils.file_utils import copy_also_copy_files
from mutmut.utils.file_utils import copy_src_dir
from mutmut.utils.file_utils import setup_source_paths

MUTANTS = Path("mutants")
RESULTS = MUTANTS / "wheelhouse-results.jsonl"
STATS = MUTANTS / "wheelhouse-stats.json"
# The in-process suite: the live stacks run the code in other processes, which mutmut's
# trampolines do not reach.
SELECTION = ["tests", "--ignore=tests/e2e", "-m", "not e2e"]
PYTEST = ["-q", "-p", "no:cacheprovider", "--reuse-db", "--tb=line"]


def generate() -> None:
    """mutmut's generation, as `mutmut run` does it before it runs anything."""

    set_mutant_under_test("mutant_generation")
    MUTANTS.mkdir(exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    print(create_mutants(os.cpu_count() or 2))
    copy_tests()


def copy_tests() -> None:
    # The current tests, so a test written since the mutants were generated counts.
    shutil.copytree("tests", MUTANTS / "tests", dirs_exist_ok=True)
    shutil.copy2("pyproject.toml", MUTANTS / "pyproject.toml")


def mutant_names() -> list[str]:
    names: list[str] = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        names += json.loads(meta.read_text())["exit_code_by_key"]
    return names


def function_of(mutant: str) -> str:
    """`registry.services.x_f__mutmut_3` -> `registry.services.x_f`, as trampolines record it."""
    return mutant.rsplit("__mutmut_", 1)[0]


def module_of(mutant: str) -> str:
    module, _, _ = function_of(mutant).rpartition(".")
    # A method's mangled name is `xǁClassǁmethod`: the module is what precedes it.
    return module


def in_mutants(argv: list[str], env: dict[str, str] | None = None) -> int:
    """This module again, in mutants/, where the mutated apps shadow the real ones."""
    return subprocess.run(
        [sys.executable, "-m", "tests.mutation_run", *argv],
        cwd=MUTANTS,
        env={**os.environ, **(env or {})},
        check=False,
    ).returncode


def stats() -> None:
    copy_tests()
    if in_mutants(["collect-stats"]) != 0:
        raise SystemExit(1)


def collect_stats() -> None:
    """Run in mutants/: the suite once, recording each test's functions and duration."""

    tests_by_function: dict[str, set[str]] = defaultdict(set)
    duration: dict[str, float] = defaultdict(float)
    failed: dict[str, set[str]] = {}

    class Recorder:
        def pytest_runtest_teardown(self, item: Any) -> None:
            for function in state()._stats:
                tests_by_function[function].add(item.nodeid)
            if item.nodeid in failed:
                failed[item.nodeid] = set(state()._stats)
            state()._stats.clear()

        def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
            duration[item.nodeid] += call.duration
            if call.excinfo is not None:
                failed[item.nodeid] = set()

    os.environ["MUTANT_UNDER_TEST"] = "stats"
    pytest.main([*PYTEST, *SELECTION], plugins=[Recorder()])
    # A test that fails without any mutant would "kill" every mutant it runs: refuse to go on
    # if one ran mutated code. One that runs none (a missing tool, say) only costs its own tests.
    if touching := sorted(test for test, functions in failed.items() if functions):
        raise SystemExit(f"these tests fail without any mutant; fix them first: {touching}")
    if failed:
        print(f"{len(failed)} tests failed that run no mutated code; going on", flush=True)
    Path(STATS.name).write_text(
        json.dumps(
            {
                "tests_by_function": {f: sorted(t) for f, t in tests_by_function.items()},
                "duration": duration,
            }
        )
    )


def chosen_tests(mutant: str, stats: dict[str, Any], max_tests: int) -> list[str]:
    tests = stats["tests_by_function"].get(function_of(mutant), [])
    own = f"tests/{mutant.split('.', 1)[0]}/"
    return sorted(tests, key=lambda t: (not t.startswith(own), stats["duration"].get(t, 0.0)))[
        :max_tests
    ]


def done(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    if not results.exists():
        return {}
    rows = (json.loads(line) for line in results.read_text().splitlines() if line.strip())
    return {row["mutant"]: row for row in rows}


def selected(args: argparse.Namespace) -> list[str]:
    names = [
        n for n in mutant_names() if not args.only or any(fnmatch.fnmatch(n, p) for p in args.only)
    ]
    if args.sample < 1:
        # Seeded, so a second run with the same seed continues the same sample.
        chooser = random.Random(args.seed)  # noqa: S311 (a sample, not a secret)
        names = sorted(chooser.sample(names, round(len(names) * args.sample)))
    return names


def run(args: argparse.Namespace, *, keep_tests: bool = False) -> None:
    if not keep_tests:
        copy_tests()
    # The workers run this module from mutants/: always the current one.
    shutil.copy2(__file__, MUTANTS / "tests" / Path(__file__).name)
    names = selected(args)
    if not args.again:
        finished = done()
        names = [n for n in names if n not in finished]
    # Interleave the modules, so a stopped run has measured a little of each. Its own seed:
    # a shuffle and a sample from one seed pick the same mutants first.
    random.Random(f"order-{args.seed}").shuffle(names)  # noqa: S311 (an order, not a secret)
    queue = MUTANTS / "wheelhouse-queue.json"
    queue.write_text(json.dumps(names))
    claims = MUTANTS / "wheelhouse-claims"
    shutil.rmtree(claims, ignore_errors=True)
    claims.mkdir()
    base = os.environ["DATABASE_URL"]
    print(f"{len(names)} mutants on {args.workers} workers", flush=True)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.mutation_run",
                "worker",
                "--max-tests",
                str(args.max_tests),
                "--results",
                args.results,
                *(["--all-tests"] if args.all_tests else []),
            ],
            cwd=MUTANTS,
            env={**os.environ, "DATABASE_URL": f"{base}_w{k}"},
        )
        for k in range(args.workers)
    ]
    for worker in workers:
        worker.wait()


def worker(args: argparse.Namespace) -> None:
    """Run in mutants/: one queue of mutants, each in a child forked from a warm process."""

    stats = json.loads(Path(STATS.name).read_text())
    queue: list[str] = json.loads(Path("wheelhouse-queue.json").read_text())
    # Import everything the tests import, once, before the first fork.
    pytest.main([*PYTEST, "--collect-only", "-qq", *SELECTION])
    with open(args.results, "a") as out:
        for mutant in queue:
            # The workers share one queue: each takes the next mutant no other has claimed.
            try:
                os.close(os.open(f"wheelhouse-claims/{mutant}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            tests = (
                stats["tests_by_function"].get(function_of(mutant), [])
                if args.all_tests
                else chosen_tests(mutant, stats, args.max_tests)
            )
            verdict, seconds, killer = run_one(mutant, tests, stats)
            row = {"mutant": mutant, "verdict": verdict, "tests": len(tests), "seconds": seconds}
            if killer:
                row["by"] = killer
            if args.all_tests:
                row["all_tests"] = True
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{verdict:9} {seconds:6.1f}s {len(tests):4} tests  {mutant}", flush=True)


def run_one(mutant: str, tests: list[str], stats: dict[str, Any]) -> tuple[str, float, str]:
    """The verdict on one mutant, the seconds it took and the test that killed it."""
    if not tests:
        return "no tests", 0.0, ""
    # Ten times what the tests took in the statistics run, and never under a minute.
    limit = max(60.0, 10 * sum(stats["duration"].get(t, 1.0) for t in tests))
    start = time.monotonic()
    code, killer = in_child(mutant, tests, limit)
    seconds = time.monotonic() - start
    if code is None:
        return "timeout", seconds, ""
    if code == 0:
        return "survived", seconds, ""
    if code not in (1, 3):
        # 2 (interrupted), 4 (usage) or 5 (nothing collected): it said nothing of the mutant.
        return f"error {code}", seconds, ""
    # A test that fails without the mutant too (a timing test on a loaded machine) proves
    # nothing: the kill counts only if the test that failed passes again on the real code.
    if killer and in_child("", [killer], limit)[0] != 0:
        return "flaky", time.monotonic() - start, killer
    return "killed", seconds, killer


class _FirstFailure:
    def __init__(self) -> None:
        self.nodeid = ""

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.nodeid:
            self.nodeid = report.nodeid


def in_child(mutant: str, tests: list[str], limit: float) -> tuple[int | None, str]:
    """pytest `-x` over `tests` in a forked child with `mutant` active: its exit code (None
    past `limit` seconds) and the first test that failed."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.environ["MUTANT_UNDER_TEST"] = mutant
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        first = _FirstFailure()
        code = pytest.main([*PYTEST, "-x", "-p", "no:randomly", *tests], plugins=[first])
        os.write(write, first.nodeid.encode())
        os._exit(int(code))
    os.close(write)
    start = time.monotonic()
    while True:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited:
            break
        if time.monotonic() - start > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return None, ""
        time.sleep(0.05)
    with os.fdopen(read, "rb") as pipe:
        killer = pipe.read().decode()
    return os.waitstatus_to_exitcode(status), killer


def recheck(args: argparse.Namespace) -> None:
    """The survivors again, each with every test that calls its function."""
    survivors = [m for m, row in done().items() if row["verdict"] == "survived"]
    if args.only:
        survivors = [m for m in survivors if any(fnmatch.fnmatch(m, p) for p in args.only)]
    args.only, args.sample, args.again, args.all_tests = survivors, 1.0, True, True
    if survivors:
        run(args)
        report(args)


def verify(args: argparse.Namespace) -> None:
    """Run `--count` kills of the results again, chosen at random, and say how many hold.

    A kill on a loaded machine can be a timing test failing for its own reasons; `run` now
    re-runs the test that failed on the real code before it counts a kill, and this measures
    how many kills in results written without that check were false."""
    rows = done()
    kills = sorted(m for m, row in rows.items() if row["verdict"] in ("killed", "timeout"))
    if args.only:
        kills = [m for m in kills if any(fnmatch.fnmatch(m, p) for p in args.only)]
    chosen = random.Random(f"verify-{args.seed}").sample(kills, min(args.count, len(kills)))  # noqa: S311
    again = MUTANTS / "wheelhouse-verify.jsonl"
    again.unlink(missing_ok=True)
    args.only, args.sample, args.again, args.results = chosen, 1.0, True, again.name
    # With the tests the kills were found with, not tests written since.
    run(args, keep_tests=True)
    verdicts = Counter(row["verdict"] for row in done(again).values())
    print(f"{len(chosen)} kills run again: {dict(verdicts)}")


def check(args: argparse.Namespace) -> None:
    """`check <mutant> <test ...>`: do the tests pass without the mutant and fail with it?"""
    copy_tests()
    mutant, *tests = args.names
    for active in ("", mutant):
        code = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST, "-x", *tests],
            cwd=MUTANTS,
            env={**os.environ, "MUTANT_UNDER_TEST": active},
            capture_output=True,
            text=True,
            check=False,
        ).returncode
        if not active and code != 0:
            raise SystemExit(f"the tests fail without the mutant ({code}): fix them first")
    print(f"{mutant}: {'killed' if code else 'survived'} by {' '.join(tests)}")


def report(args: argparse.Namespace) -> None:
    rows = done()
    names = selected(args)
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name in names:
        by_module[module_of(name)][rows[name]["verdict"] if name in rows else "not run"] += 1
    print("| module | mutants | run | killed | survived | timeout | other | not run |")
    print("|---|---|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    for module, counts in sorted(by_module.items()):
        total += counts
        print(table_row(module, counts))
    print(table_row("**all**", total))
    run_ = sum(total.values()) - total["not run"]
    if run_:
        print(
            f"\n{total['killed'] + total['timeout']} of {run_} killed "
            f"({100 * (total['killed'] + total['timeout']) / run_:.1f}%, timeouts count as killed)"
        )
    for name in sorted(names):
        if name in rows and rows[name]["verdict"] not in ("killed", "timeout"):
            print(f"{rows[name]['verdict']}: {name}")


def table_row(module: str, counts: Counter[str]) -> str:
    known = {"killed", "survived", "timeout", "not run"}
    other = sum(v for k, v in counts.items() if k not in known)
    run_ = sum(counts.values()) - counts["not run"]
    return (
        f"| {module} | {sum(counts.values())} | {run_} | {counts['killed']} | "
        f"{counts['survived']} | {counts['timeout']} | {other} | {counts['not run']} |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "step",
        choices=[
            "generate",
            "stats",
            "run",
            "recheck",
            "report",
            "all",
            "check",
            "verify",
            "collect-stats",
            "worker",
        ],
    )
    parser.add_argument("names", nargs="*", help="check: a mutant, then the tests")
    parser.add_argument("--only", nargs="*", default=[], metavar="GLOB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--max-tests", type=int, default=120)
    parser.add_argument("--again", action="store_true")
    parser.add_argument("--all-tests", action="store_true")
    parser.add_argument("--results", default=RESULTS.name, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=60, help="verify: how many kills")
    args = parser.parse_args(argv)
    steps: dict[str, Any] = {
        "generate": lambda: generate(),
        "stats": lambda: stats(),
        "run": lambda: run(args),
        "recheck": lambda: recheck(args),
        "report": lambda: report(args),
        "check": lambda: check(args),
        "verify": lambda: verify(args),
        "collect-stats": lambda: collect_stats(),
        "worker": lambda: worker(args),
    }
    for step in ["generate", "stats", "run", "report"] if args.step == "all" else [args.step]:
        steps[step]()


if __name__ == "__main__":
    main(sys.argv[1:])
