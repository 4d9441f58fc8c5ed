"""Patch application benchmark over real history: first-try apply rate per format and perturbation,
wrong-place applies (must be 0), median ms per patch, beside plain `git apply` on the unified inputs.

Corpus: the non-merge commits of a git repository (default: this checkout). Each changed text file
of a commit becomes one patch, re-expressed in every supported format, then perturbed the way
LLMs perturb patches (trailing spaces, wrong line numbers, lost indentation, typographic quotes).

The gate row is the Supervisor's own path: the new file written in an attempt worktree of a real
repository, staged by git, judged on git's entries and landed as a tree on the integration worktree.

Run: .venv/bin/python bench/apply.py [--repo PATH] [--commits N]
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.formats.edits import parse_edits
from autopack.apply.governed import apply_governed
from autopack.apply.patch import Patch
from autopack.apply.policy import DEFAULT_PROTECTED_PATHS, WritePolicy
from autopack.errors import AutopackError
from autopack.testing.gate import integrate_attempt
from autopack.workspace.git_cli import GitCli

# Application is measured, not the policy: real history touches protected paths such as workflows.
POLICY = WritePolicy(
    unprotect=DEFAULT_PROTECTED_PATHS, max_changed_lines=100_000, max_bytes=50_000_000
)


@dataclass(frozen=True)
class Sample:
    path: str
    before: str
    after: str
    hunks: list[list[str]]  # difflib hunk bodies: lines prefixed ' ', '-', '+'
    headers: list[tuple[int, int]]  # each hunk's true start line in the old and new file


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, errors="replace"
    ).stdout


def samples(repo: Path, commits: int) -> Iterator[Sample]:
    for sha in git(repo, "rev-list", "--no-merges", f"--max-count={commits}", "HEAD").split():
        parents = git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        if not parents:
            continue
        changed = git(repo, "diff", "--name-only", "--diff-filter=M", parents[0], sha).split()
        for path in changed[:4]:
            try:
                before = git(repo, "show", f"{parents[0]}:{path}")
                after = git(repo, "show", f"{sha}:{path}")
            except subprocess.CalledProcessError:
                continue
            if (
                "\x00" in before
                or len(before) > 200_000
                or not before.endswith("\n")
                or not after.endswith("\n")
            ):
                continue
            lines = list(
                difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3)
            )[2:]
            hunks: list[list[str]] = []
            headers: list[tuple[int, int]] = []
            for line in lines:
                if line.startswith("@@"):
                    old_start, new_start = (
                        int(part.split(",")[0][1:]) for part in line.split()[1:3]
                    )
                    headers.append((old_start, new_start))
                    hunks.append([])
                elif hunks:
                    hunks[-1].append(line)
            if hunks:
                yield Sample(path, before, after, hunks, headers)


# Perturbations act on hunk bodies; each returns new bodies.
def clean(hunks: list[list[str]]) -> list[list[str]]:
    return hunks


def trailing_spaces(hunks: list[list[str]]) -> list[list[str]]:
    return [
        [line + "  " if line.startswith(" ") and line.strip() else line for line in hunk]
        for hunk in hunks
    ]


def lost_indentation(hunks: list[list[str]]) -> list[list[str]]:
    """The hunk's common indentation removed, as when a model quotes a snippet; blank lines kept."""
    out = []
    for hunk in hunks:
        indents = [len(line[1:]) - len(line[1:].lstrip()) for line in hunk if line[1:].strip()]
        cut = min(indents, default=0)
        out.append([line[0] + (line[1 + cut :] if line[1:].strip() else line[1:]) for line in hunk])
    return out


def smart_quotes(hunks: list[list[str]]) -> list[list[str]]:
    def curl(line: str) -> str:
        return (
            line[0] + line[1:].replace('"', "\u201c").replace("'", "\u2019")
            if line.startswith((" ", "-"))
            else line
        )

    return [[curl(line) for line in hunk] for hunk in hunks]


PERTURBATIONS: dict[str, Callable[[list[list[str]]], list[list[str]]]] = {
    "clean": clean,
    "trailing_spaces": trailing_spaces,
    "lost_indentation": lost_indentation,
    "smart_quotes": smart_quotes,
}


def sides(hunk: list[str]) -> tuple[str, str]:
    old = "".join(line[1:] + "\n" for line in hunk if line[:1] in (" ", "-"))
    new = "".join(line[1:] + "\n" for line in hunk if line[:1] in (" ", "+"))
    return old, new


def as_unified(sample: Sample, hunks: list[list[str]], shift: int) -> str:
    parts = [f"--- a/{sample.path}\n+++ b/{sample.path}\n"]
    for (old_start, new_start), hunk in zip(sample.headers, hunks, strict=True):
        old = sum(1 for line in hunk if line[:1] in (" ", "-"))
        new = sum(1 for line in hunk if line[:1] in (" ", "+"))
        parts.append(f"@@ -{old_start + shift},{old} +{new_start + shift},{new} @@\n")
        parts.extend(line + "\n" for line in hunk)
    return "".join(parts)


def as_search_replace(sample: Sample, hunks: list[list[str]]) -> str:
    blocks = []
    for hunk in hunks:
        old, new = sides(hunk)
        blocks.append(f"{sample.path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n")
    return "\n".join(blocks)


def as_codex(sample: Sample, hunks: list[list[str]]) -> str:
    body = "".join("@@\n" + "".join(line + "\n" for line in hunk) for hunk in hunks)
    return f"*** Begin Patch\n*** Update File: {sample.path}\n{body}*** End Patch\n"


def as_edits(sample: Sample, hunks: list[list[str]]) -> Patch:
    return parse_edits(
        [
            {"op": "str_replace", "path": sample.path, "old": sides(h)[0], "new": sides(h)[1]}
            for h in hunks
        ]
    )


def attempt(sample: Sample, build: Callable[[], Patch]) -> tuple[str, float]:
    """'ok', 'wrong_place' (applied but wrong result) or 'refused', and milliseconds."""
    with tempfile.TemporaryDirectory(
        dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    ) as folder:
        root = Path(folder)
        target = root / sample.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sample.before)
        start = time.perf_counter()
        try:
            apply_governed(root, build(), POLICY)
        except AutopackError:
            return "refused", (time.perf_counter() - start) * 1000
        elapsed = (time.perf_counter() - start) * 1000
        return ("ok" if target.read_text() == sample.after else "wrong_place"), elapsed


def git_apply(sample: Sample, text: str) -> tuple[str, float]:
    with tempfile.TemporaryDirectory(
        dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    ) as folder:
        root = Path(folder)
        target = root / sample.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sample.before)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        start = time.perf_counter()
        done = subprocess.run(
            ["git", "apply", "--recount", "-"], cwd=root, input=text, text=True, capture_output=True
        )
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            return "refused", elapsed
        return ("ok" if target.read_text() == sample.after else "wrong_place"), elapsed


def gate(sample: Sample) -> tuple[str, float]:
    """The attempt's file as the Builder left it, through the gate to the integration worktree."""
    with tempfile.TemporaryDirectory(
        dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    ) as folder:
        root = Path(folder) / "repo"
        target = root / sample.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sample.before)
        identity = ["-c", "user.name=b", "-c", "user.email=b@b", "-c", "commit.gpgsign=false"]
        for args in (
            ["init", "-q", "-b", "main"],
            ["add", "-A"],
            [*identity, "commit", "-qm", "b"],
        ):
            subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
        adapter = GitCli(root, Path(folder) / "worktrees")
        adapter.ensure_integration_branch("bench", "main")
        attempt_tree = adapter.create_attempt_worktree("bench", "a1")
        (attempt_tree.path / sample.path).write_text(sample.after)
        start = time.perf_counter()
        try:
            applied = integrate_attempt(adapter, "bench", attempt_tree, POLICY).applied
        except AutopackError:
            return "refused", (time.perf_counter() - start) * 1000
        elapsed = (time.perf_counter() - start) * 1000
        landed = adapter.integration_worktree("bench").path / sample.path
        if not applied:
            return "refused", elapsed
        return ("ok" if landed.read_text() == sample.after else "wrong_place"), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--commits", type=int, default=80)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    corpus = list(samples(args.repo, args.commits))
    tally: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for sample in corpus:
        for name, perturb in PERTURBATIONS.items():
            hunks = perturb(sample.hunks)
            shift = 7 if name != "clean" else 0
            unified = as_unified(sample, hunks, shift)
            tally[("unified", name)].append(
                attempt(sample, lambda text=unified: parse_patch_text(text))
            )
            tally[("git apply", name)].append(git_apply(sample, unified))
            search_replace = as_search_replace(sample, hunks)
            tally[("search_replace", name)].append(
                attempt(sample, lambda text=search_replace: parse_patch_text(text))
            )
            codex = as_codex(sample, hunks)
            tally[("codex", name)].append(
                attempt(sample, lambda text=codex: parse_patch_text(text))
            )
            tally[("edits", name)].append(attempt(sample, lambda h=hunks, s=sample: as_edits(s, h)))
        tally[("gate", "clean")].append(gate(sample))
    rows = []
    for (fmt, perturbation), results in sorted(tally.items()):
        ok = sum(1 for outcome, _ in results if outcome == "ok")
        wrong = sum(1 for outcome, _ in results if outcome == "wrong_place")
        rows.append(
            {
                "format": fmt,
                "perturbation": perturbation,
                "patches": len(results),
                "first_try_rate": round(ok / len(results), 3) if results else 0.0,
                "wrong_place": wrong,
                "median_ms": round(statistics.median(ms for _, ms in results), 2)
                if results
                else 0.0,
            }
        )
    if args.json:
        print(json.dumps({"files": len(corpus), "rows": rows}, indent=2))
        return
    print(f"corpus: {len(corpus)} changed files from {args.repo}")
    print(
        f"{'format':<16}{'perturbation':<18}{'patches':>8}{'first try':>11}{'wrong place':>13}{'median ms':>11}"
    )
    for row in rows:
        print(
            f"{row['format']:<16}{row['perturbation']:<18}{row['patches']:>8}{row['first_try_rate']:>11.1%}"
            f"{row['wrong_place']:>13}{row['median_ms']:>11.2f}"
        )


if __name__ == "__main__":
    main()
