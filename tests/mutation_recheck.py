"""Run each mutant mutmut reports as surviving again, alone, in a fresh pytest process,
with the tests mutmut chose for it and any others named.

`make mutate` runs this after `mutmut run`. Two reasons: mutmut picks a mutant's tests from
the tests that ran its function when it collected its statistics, so a test written after
that (to kill a survivor) is not among them until the statistics are collected again, which
takes the whole suite; and mutmut forks each run from one long-lived process, where a few
tests with a transactional database and mail sent on commit passed with mutants they kill in
a process of their own (the sign-up service). This checks every survivor the plain way,
`MUTANT_UNDER_TEST=<name> pytest <its tests> <--with tests>` in mutants/ (after copying the
current tests there), and prints which ones really survive.

Usage: python -m tests.mutation_recheck [glob ...] [--with TEST ...]   (default: every survivor)
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

MUTANTS = Path("mutants")


def survivors() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results"], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split(":")[0].strip()
        for line in out.splitlines()
        if line.strip().endswith(": survived")
    ]


def tests_of(name: str, stats: dict[str, list[str]]) -> list[str]:
    function = name.rsplit("__mutmut_", 1)[0]
    return sorted(stats.get(function, []))


def main(argv: list[str]) -> int:
    patterns, extra = argv, []
    if "--with" in argv:
        at = argv.index("--with")
        patterns, extra = argv[:at], argv[at + 1 :]
    # The current tests, so tests written since the statistics were collected count.
    shutil.copytree("tests", MUTANTS / "tests", dirs_exist_ok=True)
    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text())[
        "tests_by_mangled_function_name"
    ]
    names = [n for n in survivors() if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]
    really: list[str] = []
    for name in names:
        tests = sorted({*tests_of(name, stats), *extra})
        env = {**os.environ, "MUTANT_UNDER_TEST": name}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "--reuse-db",
                *tests,
            ],
            cwd=MUTANTS,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        verdict = "survived" if result.returncode == 0 else "killed"
        print(f"{name}: {verdict}", flush=True)
        if verdict == "survived":
            really.append(name)
    print(f"{len(names)} rechecked, {len(really)} survive, {len(names) - len(really)} killed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
