"""Diagnostics benchmark: milliseconds of `nearest_lines` ("did you mean") for a hunk that does not
fit, and whether it found the hunk's real place (within a line), on generated Python full of
look-alike functions and on real code (this Python's own standard library, concatenated).

Each hunk is a stretch of the file edited the way a model misremembers code: a few lines changed,
one line dropped, the rest re-indented. The old whole-file scan is timed once for comparison.

Run: .venv/bin/python bench/diagnostics.py [--trials N] [--old-timeout SECONDS]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import statistics
import sysconfig
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

from autopack.apply.diagnostics import nearest_lines

SIZES = (2_000, 5_000)
HUNKS = (10, 34, 200, 400)
STDLIB = ("argparse.py", "difflib.py", "typing.py", "inspect.py", "subprocess.py", "tarfile.py")


def generated_file(lines: int) -> list[str]:
    """Functions that differ only in a name and a few numbers, as generated or copied code does."""
    out: list[str] = []
    number = 0
    while len(out) < lines:
        out += [
            f"def handler_{number}(request, value):",
            f'    """Handle case {number}."""',
            f"    total = value * {number % 7}",
            f"    if total > {number % 11}:",
            "        return total - 1",
            "    result = compute(request, total)",
            "    return result + 1",
            "",
            "",
        ]
        number += 1
    return out[:lines]


def stdlib_file(lines: int) -> list[str]:
    """Real, varied code: long lines, docstrings, few repeats."""
    folder = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for name in STDLIB:
        out += (folder / name).read_text(encoding="utf-8").splitlines()
    return out[:lines]


SOURCES: dict[str, Callable[[int], list[str]]] = {
    "generated": generated_file,
    "stdlib": stdlib_file,
}


def edited(lines: list[str], seed: int) -> list[str]:
    """Every eighth line changed, one line dropped, everything indented four more spaces."""
    rng = random.Random(seed)
    out = [line + "  # changed" if index % 8 == 3 else line for index, line in enumerate(lines)]
    del out[rng.randrange(1, len(out) - 1)]
    return ["    " + line for line in out]


def _old_nearest_lines_for_comparison(
    file_lines: list[str], search: list[str]
) -> tuple[int, list[str]] | None:
    """The previous implementation, kept here only to measure against: every window scored."""
    if not file_lines or not search:
        return None
    width = min(len(search), len(file_lines))
    target = "\n".join(line.strip() for line in search)
    best_start, best_ratio = 0, -1.0
    for start in range(len(file_lines) - width + 1):
        window = "\n".join(line.strip() for line in file_lines[start : start + width])
        ratio = SequenceMatcher(None, target, window, autojunk=False).ratio()
        if ratio > best_ratio:
            best_start, best_ratio = start, ratio
    return best_start, file_lines[best_start : best_start + width]


def _time_old(
    file_lines: list[str], search: list[str], results: multiprocessing.Queue[tuple[float, int]]
) -> None:
    start = time.perf_counter()
    near = _old_nearest_lines_for_comparison(file_lines, search)
    results.put(((time.perf_counter() - start) * 1000, near[0] if near else -1))


def old_run(file_lines: list[str], search: list[str], timeout: float) -> tuple[float, int] | None:
    """One run of the old scan in a child process (ms, start found), abandoned after `timeout` s."""
    results: multiprocessing.Queue[tuple[float, int]] = multiprocessing.Queue()
    child = multiprocessing.Process(target=_time_old, args=(file_lines, search, results))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    return results.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=7, help="hunks (placements) per row")
    parser.add_argument("--old-timeout", type=float, default=120.0, help="seconds; 0 skips it")
    args = parser.parse_args()
    print(
        f"{'source':<11}{'file lines':>10}{'hunk lines':>12}{'median ms':>11}{'max ms':>9}{'found':>8}"
    )
    for (source, make), size in itertools.product(SOURCES.items(), SIZES):
        file_lines = make(size)
        for hunk in HUNKS:
            rng = random.Random(size * 1_000 + hunk)
            timings, found = [], 0
            for trial in range(args.trials):
                where = rng.randrange(0, size - hunk)
                search = edited(file_lines[where : where + hunk], seed=trial)
                start = time.perf_counter()
                near = nearest_lines(file_lines, search)
                timings.append((time.perf_counter() - start) * 1000)
                found += int(near is not None and abs(near[0] - where) <= 1)
            print(
                f"{source:<11}{size:>10}{hunk:>12}{statistics.median(timings):>11.2f}{max(timings):>9.2f}"
                f"{found:>5}/{args.trials}"
            )
    if args.old_timeout <= 0:
        return
    print("2000 lines, 34-line hunk at line 1001: old whole-file scan (one run) beside the new")
    for source, make in SOURCES.items():
        file_lines = make(2_000)
        search = edited(file_lines[1_000:1_034], seed=0)
        start = time.perf_counter()
        near = nearest_lines(file_lines, search)
        new = f"new {(time.perf_counter() - start) * 1000:.2f} ms, start {near[0] if near else -1}"
        old = old_run(file_lines, search, args.old_timeout)
        shown = (
            f"old {old[0]:,.0f} ms, start {old[1]}"
            if old is not None
            else f"old > {args.old_timeout:.0f} s (stopped)"
        )
        print(f"{source:<11}{shown}; {new}")


if __name__ == "__main__":
    main()
