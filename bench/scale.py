"""How much faster a plan of independent chains runs with `max_parallel_phases` 1, 2 and 4.

Each run is a user's `autopack run` in a subprocess on a fresh repository (autopack.testing.chains:
one tier, 4 chains of 4 phases, each step `depends_on` the one before), against the fake OpenAI
server answering every call after `--latency` seconds, with a CI profile that pauses
`--ci-seconds` then runs pytest. After each run every commit of `autopack/<run_id>` past the base
is checked out in a scratch worktree and the CI profile's commands run on it. Exits 1 when a run
did not end DONE_SUCCESS or a commit is red.

    .venv/bin/python bench/scale.py [--quick] [--latency 2] [--ci-seconds 2] [--parallel 1,2,4]
                                    [--databases sqlite,postgresql] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from autopack.testing.chains import Chains, chains_developer, create_chains_project
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.postgres import postgres_unavailable_reason, running_postgres

AUTOPACK = str(Path(sys.executable).parent / "autopack")
GOAL = 3.0


@dataclass(frozen=True)
class Measured:
    database: str
    parallel: int
    seconds: float  # the whole `autopack run`, preflight included
    phases_seconds: float
    state: str
    commits: int
    expected_commits: int
    green: int  # commits past the base that pass the CI profile
    llm_calls: int
    most_in_flight: int
    load_average: float  # the machine's, over the minute before the run
    speedup: float | None = None
    phases_speedup: float | None = None

    @property
    def ok(self) -> bool:
        return (
            self.state == "DONE_SUCCESS"
            and self.commits == self.expected_commits
            and self.green == self.commits
        )


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Drive:
    """What `autopack run --json` said, read from its events as they arrived."""

    run_id: str = ""
    state: str = "NO_RUN"
    in_flight: int = 0
    most_in_flight: int = 0
    tier_started: float | None = None
    ended: float | None = None

    def read(self, event: dict[str, Any], now: float) -> None:
        kind = event.get("kind")
        if kind == "tier_started" and self.tier_started is None:
            self.tier_started = now
        elif kind == "phase_started":
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        elif kind == "committed":
            self.in_flight -= 1
        elif kind == "run_finished":
            self.ended = now
        elif kind == "end":
            self.run_id, self.state = str(event["run_id"]), str(event["state"])

    @property
    def phases_seconds(self) -> float:
        """From the tier's start to the run's end: the part parallel phases can shorten."""
        if self.tier_started is None or self.ended is None:
            return 0.0
        return self.ended - self.tier_started


def _drive(root: Path, plan: Path, env: dict[str, str], log: Path) -> Drive:
    """`autopack run PLAN --repo ROOT --json` in a subprocess, as a user starts it."""
    drive = Drive()
    with log.open("w", encoding="utf-8") as kept:
        process = subprocess.Popen(
            [AUTOPACK, "run", str(plan), "--repo", str(root), "--json"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        begun = time.perf_counter()
        for line in process.stdout:
            kept.write(f"{time.perf_counter() - begun:8.2f} {line}")
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                drive.read(event, time.perf_counter())
        process.wait()
    return drive


def _green_commits(root: Path, run_id: str, chains: Chains, scratch: Path) -> int:
    """How many of the integration branch's commits past `main` pass the CI profile, each
    checked out in turn, clean, in one scratch worktree (outside the sandbox: a second opinion)."""
    commits = _git(root, "rev-list", "--reverse", f"main..autopack/{run_id}").split()
    worktree = scratch / f"{root.name}-check"
    _git(root, "worktree", "add", "--quiet", "--detach", str(worktree), "main")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    green = 0
    try:
        for commit in commits:
            _git(worktree, "checkout", "--quiet", "--force", "--detach", commit)
            _git(worktree, "clean", "-fdxq")
            passed = all(
                subprocess.run(
                    command, shell=True, cwd=worktree, env=env, capture_output=True, check=False
                ).returncode
                == 0
                for command in chains.ci_commands().values()
            )
            green += passed
            if not passed:
                subject = _git(root, "log", "-1", "--format=%s", commit)
                print(f"  red: {commit[:12]} {subject}", file=sys.stderr)
    finally:
        _git(root, "worktree", "remove", "--force", str(worktree))
    return green


def measure(
    database: str, url: str | None, parallel: int, chains: Chains, latency: float, scratch: Path
) -> Measured:
    root = scratch / f"{database}-p{parallel}"
    log = scratch / f"{root.name}.log"
    load = os.getloadavg()[0]
    with fake_llm_server(chains_developer(latency)) as llm:
        parallel_config = f"[ruleset.run]\nmax_parallel_phases = {parallel}\n"
        plan = create_chains_project(
            root, chains, llm.openai_base_url, extra_config=parallel_config
        )
        env = {**os.environ, "OPENAI_API_KEY": "test-key"}
        env.pop("AUTOPACK_DATABASE_URL", None)
        if url is not None:
            env["AUTOPACK_DATABASE_URL"] = url
        started = time.perf_counter()
        drive = _drive(root, plan, env, log)
        seconds = time.perf_counter() - started
        calls = sum(llm.calls_per_model.values())
    if drive.state != "DONE_SUCCESS":
        tail = log.read_text(encoding="utf-8").splitlines()[-15:]
        print(
            f"{root.name} ended {drive.state}; its output ended:",
            *tail,
            sep="\n  ",
            file=sys.stderr,
        )
    commits, green = 0, 0
    if drive.run_id:
        commits = len(_git(root, "rev-list", f"main..autopack/{drive.run_id}").split())
        green = _green_commits(root, drive.run_id, chains, scratch)
    return Measured(
        database=database,
        parallel=parallel,
        seconds=seconds,
        phases_seconds=drive.phases_seconds,
        state=drive.state,
        commits=commits,
        expected_commits=len(chains.phase_ids()),
        green=green,
        llm_calls=calls,
        most_in_flight=drive.most_in_flight,
        load_average=load,
    )


@contextmanager
def databases(names: list[str]) -> Iterator[dict[str, Callable[[], str | None]]]:
    """For each database, what gives a run its own: None for SQLite (the repository's own file),
    else a fresh database on one throwaway PostgreSQL server."""
    with ExitStack() as stack:
        makers: dict[str, Callable[[], str | None]] = {}
        for name in names:
            if name == "sqlite":
                makers[name] = lambda: None
            elif name == "postgresql":
                reason = postgres_unavailable_reason()
                if reason is not None:
                    raise SystemExit(f"postgresql: {reason}")
                makers[name] = stack.enter_context(running_postgres()).create_database
            else:
                raise SystemExit(f"unknown database {name!r}: sqlite or postgresql")
        yield makers


def _print(result: Measured, out: TextIO) -> None:
    def times(ratio: float | None) -> str:
        return "-" if ratio is None else f"{ratio:.2f}x"

    print(
        f"{result.database:<10} parallel {result.parallel}: {result.seconds:6.1f} s "
        f"(phases {result.phases_seconds:6.1f} s)  {result.state}  "
        f"commits {result.commits}  LLM calls {result.llm_calls}  "
        f"most phases in flight {result.most_in_flight}  "
        f"speed-up {times(result.speedup)} (phases {times(result.phases_speedup)})  "
        f"every commit green: {'yes' if result.green == result.commits else 'no'} "
        f"({result.green}/{result.commits})  load {result.load_average:.1f}",
        file=out,
        flush=True,
    )


def _against(result: Measured, serial: Measured | None) -> Measured:
    """The result with its speed-ups over the same database's parallel-1 run, if there is one."""
    if serial is None or not result.seconds or not result.phases_seconds:
        return result
    return replace(
        result,
        speedup=serial.seconds / result.seconds,
        phases_speedup=serial.phases_seconds / result.phases_seconds,
    )


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="--quick is --latency 0.2 --ci-seconds 0.2 --parallel 1,4 --databases sqlite.",
    )
    parser.add_argument("--latency", type=float, help="seconds per LLM call (default 2.0)")
    parser.add_argument("--ci-seconds", type=float, help="CI pause before pytest (default 2.0)")
    parser.add_argument("--parallel", help="max_parallel_phases values (default 1,2,4)")
    parser.add_argument("--databases", help="sqlite,postgresql (the default: both)")
    parser.add_argument("--quick", action="store_true", help="a short run to see it works")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout at the end")
    parser.add_argument(
        "--keep", type=Path, help="leave the repositories and timed run logs in this folder"
    )
    args = parser.parse_args()
    quick = {"latency": 0.2, "ci_seconds": 0.2, "parallel": "1,4", "databases": "sqlite"}
    full = {
        "latency": 2.0,
        "ci_seconds": 2.0,
        "parallel": "1,2,4",
        "databases": "sqlite,postgresql",
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> int:
    args = _options()
    # A terminated bench unwinds like an interrupted one: its PostgreSQL server is stopped.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    chains = Chains(ci_seconds=args.ci_seconds)
    parallels = sorted({int(value) for value in args.parallel.split(",")})
    names = [name.strip() for name in args.databases.split(",") if name.strip()]
    out = sys.stderr if args.json else sys.stdout  # --json keeps stdout for the one object
    print(
        f"{chains.chains} chains of {chains.steps} phases, one tier; {args.latency:g} s per "
        f"LLM call, CI {args.ci_seconds:g} s pause + pytest; parallel {parallels} on {names}",
        file=out,
        flush=True,
    )
    results: list[Measured] = []
    with ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = str(args.keep.resolve())
        else:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="autopack-scale-"))
        fresh_database = stack.enter_context(databases(names))
        for name in names:
            serial: Measured | None = None
            for parallel in parallels:
                url = fresh_database[name]()
                result = measure(name, url, parallel, chains, args.latency, Path(folder))
                serial = result if parallel == 1 else serial
                result = _against(result, serial)
                results.append(result)
                _print(result, out)
    goals = {r.database: r.speedup for r in results if r.parallel == chains.chains and r.speedup}
    for database, speedup in goals.items():
        print(
            f"{database}: {chains.chains} parallel phases: {speedup:.1f}x faster than 1 "
            f"(goal >= {GOAL:g}x)",
            file=out,
        )
    ok = all(result.ok for result in results)
    print(f"every run DONE_SUCCESS with every commit green: {'yes' if ok else 'no'}", file=out)
    if args.json:
        summary = {
            "chains": chains.chains,
            "steps": chains.steps,
            "latency": args.latency,
            "ci_seconds": args.ci_seconds,
            "runs": [{**asdict(result), "ok": result.ok} for result in results],
            "speedup_at_parallel_chains": goals,
            "goal": GOAL,
            "ok": ok,
        }
        print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
