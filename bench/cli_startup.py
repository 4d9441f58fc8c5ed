"""CPU seconds `autopack --help` (and a few `autopack CMD --help`) cost, as a user's shell sees them.

Each command runs as its own process (`python -m autopack ...`); its user + system CPU time is read
from resource.getrusage(RUSAGE_CHILDREN), so a loaded machine's waiting does not count. Prints the
median of several runs per command. The target is under 0.5 s: no provider SDK, DBOS or database
layer is imported before a command runs (tests/cli/test_cli_startup.py asserts the imports).

    .venv/bin/python bench/cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

COMMANDS = (
    ("--help",),
    ("run", "--help"),
    ("plan", "--help"),
    ("serve", "--help"),
    ("--version",),
)


def cpu_seconds(command: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    baseline = statistics.median(cpu_seconds([sys.executable, "-c", "pass"]) for _ in range(runs))
    print(f"python -c pass: {baseline:.3f} s CPU (the interpreter alone)")
    for arguments in COMMANDS:
        command = [sys.executable, "-m", "autopack", *arguments]
        median = statistics.median(cpu_seconds(command) for _ in range(runs))
        print(f"autopack {' '.join(arguments)}: {median:.3f} s CPU (median of {runs})")


if __name__ == "__main__":
    main()
