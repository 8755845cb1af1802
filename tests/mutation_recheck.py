"""Run each mutant mutmut reports as surviving again, alone, in a fresh pytest process.

`make mutate` runs this after `mutmut run`. mutmut runs a mutant's tests in a child forked
from one long-lived process; for tests that go through the dashboard with a transactional
database or mail on commit it has reported mutants as surviving that the same tests kill when
run on their own (the sign-up and invitation services: every mutant "survived"). This checks
every reported survivor the plain way: `MUTANT_UNDER_TEST=<name> pytest <its tests>` in
mutants/, and prints which ones really survive.

Usage: python -m tests.mutation_recheck [glob ...]   (default: every survivor)
"""

from __future__ import annotations

import fnmatch
import json
import os
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


def main(patterns: list[str]) -> int:
    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text())[
        "tests_by_mangled_function_name"
    ]
    names = [n for n in survivors() if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]
    really: list[str] = []
    for name in names:
        tests = tests_of(name, stats)
        env = {**os.environ, "MUTANT_UNDER_TEST": name}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
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
