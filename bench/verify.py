"""Verification ladder benchmark over a real project's history: does the ladder accept the true
commits, reject broken variants of them, and what CI seconds does its targeted rung save?

Corpus: the most recent non-merge commits of a Python project (a local clone passed as --repo) that
change both its source and its tests. For each commit C with parent P, a worktree at P gets:

- true: C's whole diff;
- dropped-hunk: C's diff with one source hunk left out (the one changing the most code lines);
  a variant whose source parses to the same tree as C's (docstrings aside) is counted as
  equivalent and left out of the rejection share;
- source-only: C's diff without its test changes, judged as a `bugfix` phase with no acceptance
  items (so the evidence rung wants a test failing at P and passing now) and, read off the same
  climb, as a `feature` phase (every rung but the evidence one passed).

The true and dropped-hunk changes are judged as `feature` phases. Each climb uses the project's
whole pytest suite as its CI profile, run with this script's own interpreter in inherit mode
(the worktree's import roots first on PYTHONPATH), in the bubblewrap sandbox unless --no-sandbox.
P's failures, measured once per commit by the same profile, are set aside as a run does.

CI seconds compare the ladder's rungs with running the full profile on every attempt: an attempt
stopped before the full rung would have cost one full run (P's, measured); one that reached it
cost what its full rung did.

Run: .venv/bin/python bench/verify.py --repo PATH [--commits 30] [--no-sandbox] [--minutes M]
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import TaskCategory
from autopack.testing.runs import phase_strategy
from autopack.verify.base import Limits, Sandbox, TestStatus
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox
from autopack.verify.environment.inherit import InheritEnvironment
from autopack.verify.ladder import BaseFacts, Ladder, LadderResult
from autopack.verify.test_guard import is_test_file
from autopack.verify.verifier import run_profile

LIMITS = Limits(wall_seconds=900)
# Python outside the package: documentation builds and examples are neither source nor tests.
NOT_SOURCE_DIRS = frozenset({"docs", "doc", "examples", "example", "scripts", "benchmarks"})
KINDS = ("true", "dropped-hunk", "source-only")


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        errors="replace",
    ).stdout


def is_test_side(path: str) -> bool:
    """Test files and their support (conftest.py, fixtures under tests/)."""
    pure = PurePosixPath(path)
    return is_test_file(path) or pure.name == "conftest.py" or "tests" in pure.parts[:-1]


def is_source(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        pure.suffix == ".py"
        and not is_test_side(path)
        and not NOT_SOURCE_DIRS.intersection(pure.parts[:-1])
    )


@dataclass
class FileDiff:
    path: str
    header: str  # `diff --git` up to the first hunk
    hunks: list[str]

    def text(self, skip: int | None = None) -> str:
        return self.header + "".join(h for n, h in enumerate(self.hunks) if n != skip)


def file_diffs(diff: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    for section in diff.split("\ndiff --git "):
        if not section.strip():
            continue
        section = section if section.startswith("diff --git ") else "diff --git " + section
        if not section.endswith("\n"):
            section += "\n"
        head, sep, rest = section.partition("\n@@ ")
        header_lines = head.splitlines()
        path = header_lines[0].split(" b/", 1)[-1]
        for line in header_lines:
            if line.startswith("+++ b/"):
                path = line[len("+++ b/") :]
        hunks = ["@@ " + h for h in rest.split("\n@@ ")] if sep else []
        hunks = [h if h.endswith("\n") else h + "\n" for h in hunks]
        files.append(FileDiff(path, head + "\n", hunks))
    return files


def code_lines(hunk: str) -> int:
    """Added or removed lines that are code (not blank, not a comment)."""
    return sum(
        1
        for line in hunk.splitlines()[1:]
        if line[:1] in "+-" and line[1:].strip() and not line[1:].strip().startswith("#")
    )


def without_docstrings(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body.pop(0)
    return ast.dump(tree)


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str
    subject: str
    files: tuple[FileDiff, ...]

    def variants(self, repo: Path) -> dict[str, tuple[str, str | None]]:
        """{kind: (patch, the source file whose hunk was dropped)}."""
        true = "".join(f.text() for f in self.files)
        candidates = [
            (code_lines(hunk), not self._changes_code(repo, f, number), index, number)
            for index, f in enumerate(self.files)
            if is_source(f.path)
            for number, hunk in enumerate(f.hunks)
        ]
        # A hunk whose loss changes the code (a docstring's does not), then the biggest.
        _, _, index, number = max(candidates, key=lambda c: (not c[1], c[0], -c[2], -c[3]))
        dropped = "".join(
            f.text(skip=number if i == index else None)
            for i, f in enumerate(self.files)
            if not (i == index and len(f.hunks) == 1)  # its only hunk: the file left as it was
        )
        source_only = "".join(f.text() for f in self.files if not is_test_side(f.path))
        return {
            "true": (true, None),
            "dropped-hunk": (dropped, self.files[index].path),
            "source-only": (source_only, None),
        }

    def _changes_code(self, repo: Path, diff: FileDiff, skip: int) -> bool:
        """Whether C's file without this hunk parses to another tree than C's (docstrings aside)."""
        try:
            before = git(repo, "show", f"{self.parent}:{diff.path}").splitlines(keepends=True)
            after = git(repo, "show", f"{self.sha}:{diff.path}")
        except subprocess.CalledProcessError:
            return True  # an added or deleted file: leaving it out changes the code
        return without_docstrings(apply_hunks(before, diff.hunks, skip)) != without_docstrings(
            after
        )


def apply_hunks(before: list[str], hunks: list[str], skip: int) -> str:
    """The file with every hunk but one applied (git's own hunks, so their old lines match)."""
    out: list[str] = []
    position = 0
    for number, hunk in enumerate(hunks):
        lines = hunk.splitlines(keepends=True)
        old_start = int(lines[0].split()[1].lstrip("-").split(",")[0])
        old_count = sum(1 for line in lines[1:] if line[:1] in (" ", "-"))
        start = max(old_start - 1, 0) if old_count else old_start
        out += before[position:start]
        kept = (" ", "-") if number == skip else (" ", "+")
        out += [line[1:] for line in lines[1:] if line[:1] in kept]
        position = start + old_count
    out += before[position:]
    return "".join(out)


def commits(repo: Path, wanted: int, scan: int = 600) -> list[Commit]:
    found: list[Commit] = []
    for sha in git(repo, "rev-list", "--no-merges", f"--max-count={scan}", "HEAD").split():
        parents = git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        if len(parents) != 1:
            continue
        names = git(repo, "diff", "--no-renames", "--name-only", parents[0], sha).split("\n")
        python = [name for name in names if name.endswith(".py")]
        if not any(map(is_source, python)) or not any(map(is_test_side, python)):
            continue
        diff = git(repo, "diff", "--no-renames", "--binary", parents[0], sha)
        files = file_diffs(diff)
        if not any(f.hunks for f in files if is_source(f.path)):
            continue
        subject = git(repo, "log", "-1", "--format=%s", sha).strip()
        found.append(Commit(sha, parents[0], subject, tuple(files)))
        if len(found) >= wanted:
            break
    return found


@dataclass(frozen=True)
class Climb:
    commit: str
    kind: str
    accepted: bool
    stopped_at: str | None
    reasons: tuple[str, ...]
    rung_seconds: Mapping[str, float]
    skipped: tuple[str, ...]
    wall_seconds: float
    full_equivalent: float  # one full profile run: the full rung's, else P's
    equivalent_variant: bool = False
    feature_accepted: bool | None = None  # source-only, read as a feature phase

    @property
    def ladder_seconds(self) -> float:
        return sum(self.rung_seconds.values())


@dataclass
class Bench:
    repo: Path
    scratch: Path
    sandbox: Sandbox
    commands: Mapping[str, str]
    feature: PhaseStrategy
    bugfix: PhaseStrategy
    counter: list[int] = field(default_factory=lambda: [0])

    def worktree(self, commit: str) -> tuple[Path, Callable[[], None]]:
        self.counter[0] += 1
        path = self.scratch / f"wt-{self.counter[0]}"
        git(self.repo, "worktree", "add", "--detach", "--force", str(path), commit)

        def remove() -> None:
            git(self.repo, "worktree", "remove", "--force", str(path))

        return path, remove

    def env_for(self, worktree: Path) -> Mapping[str, str]:
        return InheritEnvironment(python=True).prepare(worktree).env

    def base_facts(self, commit: Commit) -> tuple[BaseFacts, float]:
        path, remove = self.worktree(commit.parent)
        try:
            outcomes = run_profile(
                path,
                self.commands,
                self.sandbox,
                LIMITS,
                self.scratch / "reports",
                label="baseline",
                env=self.env_for(path),
            )
        finally:
            remove()
        failing = set().union(*(o.failure_keys() for o in outcomes))
        passing = {
            f"test:{t.test_id}" for o in outcomes for t in o.tests if t.status is TestStatus.PASSED
        }
        seconds = sum(o.seconds for o in outcomes)
        return BaseFacts(failing=frozenset(failing), passing=frozenset(passing)), seconds

    def climb(self, commit: Commit, kind: str, patch: str, dropped_from: str | None,
              base: BaseFacts, base_seconds: float) -> Climb:  # fmt: skip
        path, remove = self.worktree(commit.parent)
        try:
            git(path, "apply", "--whitespace=nowarn", stdin=patch)
            git(path, "add", "-A")
            changed = tuple(
                git(path, "diff", "--cached", "--no-renames", "--name-only", "HEAD").split()
            )
            equivalent = dropped_from is not None and without_docstrings(
                (path / dropped_from).read_text(encoding="utf-8", errors="replace")
                if (path / dropped_from).is_file()
                else ""
            ) == without_docstrings(git(self.repo, "show", f"{commit.sha}:{dropped_from}"))
            phase = self.bugfix if kind == "source-only" else self.feature

            def before(name: str) -> str | None:
                try:
                    return git(self.repo, "show", f"{commit.parent}:{name}")
                except subprocess.CalledProcessError:
                    return None

            started = time.perf_counter()
            result = Ladder(
                worktree=path,
                phase=phase,
                commands=self.commands,
                sandbox=self.sandbox,
                limits=LIMITS,
                reports=self.scratch / "reports",
                base=base,
                changed=changed,
                before=before,
                env_for=self.env_for,
                base_checkout=lambda: self.worktree(commit.parent),
            ).climb()
            wall = time.perf_counter() - started
        finally:
            remove()
        return summarise(commit, kind, result, wall, base_seconds, equivalent)


def summarise(commit: Commit, kind: str, result: LadderResult, wall: float,
              base_seconds: float, equivalent: bool) -> Climb:  # fmt: skip
    seconds = {rung.name: rung.seconds for rung in result.rungs if not rung.skipped}
    stopped = result.stopped_at or (
        "evidence" if "bugfix:no-fail-to-pass" in result.failures else None
    )
    reasons = tuple(f"{stopped}: {_reason(key)}" for key in sorted(result.failures))
    return Climb(
        commit=commit.sha[:10],
        kind=kind,
        accepted=result.passed,
        stopped_at=stopped,
        reasons=reasons,
        rung_seconds=seconds,
        skipped=tuple(rung.name for rung in result.rungs if rung.skipped),
        wall_seconds=wall,
        full_equivalent=seconds.get("full", base_seconds),
        equivalent_variant=equivalent,
        feature_accepted=(
            set(result.failures) <= {"bugfix:no-fail-to-pass"} if kind == "source-only" else None
        ),
    )


def _reason(key: str) -> str:
    """A failure key grouped by kind: `tests:deleted-test:tests/x.py` -> `tests:deleted-test`,
    `test:tests/x.py::y` -> `test failing (tests/x.py)`."""
    if key.startswith("test:"):
        return f"test failing ({key[5:].split('::')[0]})"
    parts = key.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else key


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def report(name: str, tried: int, climbs: list[Climb]) -> None:
    by_kind: dict[str, list[Climb]] = defaultdict(list)
    for climb in climbs:
        by_kind[climb.kind].append(climb)
    true = by_kind["true"]
    dropped = [c for c in by_kind["dropped-hunk"] if not c.equivalent_variant]
    source_only = by_kind["source-only"]
    print(f"\n== {name}: {tried} commits tried")
    print(
        f"true commits accepted (feature phase):        {share(sum(c.accepted for c in true), len(true))}"
    )
    print(
        "dropped-hunk variants rejected:               "
        f"{share(sum(not c.accepted for c in dropped), len(dropped))}"
        f" ({len(by_kind['dropped-hunk']) - len(dropped)} equivalent to the commit, left out)"
    )
    print(
        "source-only variants rejected, bugfix phase:  "
        f"{share(sum(not c.accepted for c in source_only), len(source_only))}"
    )
    print(
        "source-only variants rejected, feature phase: "
        f"{share(sum(not c.feature_accepted for c in source_only), len(source_only))}"
    )
    for kind in KINDS:
        stops = Counter(c.stopped_at or "accepted" for c in by_kind[kind])
        print(f"  {kind:13} stopped at: " + ", ".join(f"{k} {v}" for k, v in stops.most_common()))
    print("seconds per rung (climbs that ran it): median / total / runs")
    rungs: dict[str, list[float]] = defaultdict(list)
    for climb in climbs:
        for rung, seconds in climb.rung_seconds.items():
            rungs[rung].append(seconds)
    for rung in ("syntax", "tests-kept", "acceptance", "targeted", "full"):
        values = rungs.get(rung)
        if values:
            print(
                f"  {rung:11} {statistics.median(values):8.2f} {sum(values):9.1f} {len(values):5}"
            )
    skipped = Counter(rung for climb in climbs for rung in climb.skipped)
    if skipped:
        print("  skipped rungs: " + ", ".join(f"{k} {v}" for k, v in skipped.most_common()))
    ladder = sum(c.ladder_seconds for c in climbs)
    full = sum(c.full_equivalent for c in climbs)
    early = [c for c in climbs if "full" not in c.rung_seconds]
    late = [c for c in climbs if "full" in c.rung_seconds]
    saved = sum(c.full_equivalent - c.ladder_seconds for c in early)
    extra = sum(c.ladder_seconds - c.full_equivalent for c in late)
    print(
        f"CI seconds over {len(climbs)} attempts: ladder {ladder:.0f} s, full profile every attempt {full:.0f} s"
    )
    print(
        f"  {len(early)} attempts stopped before the full rung saved {saved:.0f} s;"
        f" {len(late)} that reached it spent {extra:.0f} s more on the earlier rungs"
    )
    print(f"  ladder wall seconds (incl. evidence runs): {sum(c.wall_seconds for c in climbs):.0f}")
    reasons = Counter(reason for c in true if not c.accepted for reason in set(c.reasons))
    if reasons:
        print("why true commits were rejected (commits per reason):")
        for reason, count in reasons.most_common(8):
            print(f"  {count:3}  {reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="a local clone of the project")
    parser.add_argument("--commits", type=int, default=30)
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--minutes", type=float, default=0, help="start no commit after this")
    parser.add_argument("--scratch", type=Path, default=None, help="worktrees and reports")
    args = parser.parse_args()
    repo: Path = args.repo
    if not (repo / ".git").exists():
        print(f"skipped: {repo} is not a git clone (clone the project there first)")
        return 0
    sandbox: Sandbox = NoSandbox() if args.no_sandbox else BubblewrapSandbox()
    # The interpreter running this script (with pytest) runs the project's suite.
    commands = {"tests": f"{sys.executable} -m pytest -q -p no:cacheprovider"}
    feature = phase_strategy("Bench change", category=TaskCategory.FEATURE)
    bugfix = phase_strategy("Bench fix", category=TaskCategory.BUGFIX)
    picked = commits(repo, args.commits)
    print(f"{repo.name}: {len(picked)} commits changing source and tests; sandbox {sandbox.name}")
    started = time.monotonic()
    climbs: list[Climb] = []
    tried = 0
    args.scratch and args.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        bench = Bench(repo, Path(scratch), sandbox, commands, feature, bugfix)
        try:
            for commit in picked:
                if args.minutes and time.monotonic() - started > args.minutes * 60:
                    print(f"time budget of {args.minutes} min spent: stopping")
                    break
                base, base_seconds = bench.base_facts(commit)
                tried += 1
                line = [f"{commit.sha[:10]} P-fail {len(base.failing):3} full {base_seconds:5.1f}s"]
                for kind, (patch, dropped_from) in commit.variants(repo).items():
                    climb = bench.climb(commit, kind, patch, dropped_from, base, base_seconds)
                    climbs.append(climb)
                    verdict = "ok" if climb.accepted else f"NO@{climb.stopped_at}"
                    if climb.equivalent_variant:
                        verdict += "(equiv)"
                    elif not climb.accepted:
                        verdict += f" [{'; '.join(climb.reasons[:2])}]"
                    line.append(f"{kind} {verdict} {climb.ladder_seconds:.0f}s")
                print(" | ".join(line) + f" | {commit.subject[:50]}", flush=True)
        finally:
            git(repo, "worktree", "prune")
    report(repo.name, tried, climbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
