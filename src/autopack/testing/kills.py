"""Crash trials: a run driven in a child process that is SIGKILLed at a named instant
(autopack/killpoints.py), then resumed in a fresh child, as `autopack run` and `autopack resume`
drive it; and what a finished run must not have left behind.

Children come from a fork server that imported Autopack once, so a trial pays for the run's own
work, not for a Python start-up; each child is a process of its own, killed for real.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopack.killpoints import KILL_AT, TRACE
from autopack.processes import executor_dead
from autopack.verify.orphans import OWNER_VARIABLE

# The demo's first phase alone: the shortest plan whose run passes every kind of step.
ONE_PHASE_PLAN = """# Calculator

## Tier 1: Operations

### Phase 1.1: Add subtraction
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py
acceptance: tests/test_subtract.py

Add `subtract(a, b)` to calc/ops.py with a unit test.
"""

_PRELOAD = ["autopack.run.execute", "autopack.config", "autopack.testing.warm"]


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _drive(repo_root: str, plan: str | None, run_id: str | None, env: dict[str, str]) -> None:
    os.environ.update(env)
    from autopack.config import load_settings
    from autopack.run.execute import create_run, execute_run
    from autopack.run.services import RunOptions

    settings = load_settings(Path(repo_root))
    options = RunOptions()
    if plan is not None:
        run_id = create_run(settings, Path(plan), options, split=True, check_base=True)
        execute_run(settings, run_id, options)
    else:
        assert run_id is not None
        execute_run(settings, run_id, options, resume=True)


def _sweep(repo_root: str, env: dict[str, str]) -> None:
    os.environ.update(env)
    from datetime import timedelta

    from autopack.config import load_settings
    from autopack.run.execute import sweep_and_resume

    sweep_and_resume(load_settings(Path(repo_root)), timedelta(0), interrupted=True)


def _child(target: Any, *args: Any, timeout: float = 600) -> int:
    process = _context().Process(target=target, args=args)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        raise TimeoutError(f"a crash-trial child ran over {timeout:g} s")
    return int(process.exitcode or 0)


def start_run(
    repo_root: Path, plan: Path, env: Mapping[str, str], *, kill_at: str | None = None
) -> int:
    """`autopack run PLAN` in a child, killed at `kill_at`; its exit code (-9 when killed)."""
    child_env = {**env, **({KILL_AT: kill_at} if kill_at else {})}
    return _child(_drive, str(repo_root), str(plan), None, child_env)


def trace_run(repo_root: Path, plan: Path, env: Mapping[str, str], trace: Path) -> list[str]:
    """A kill-free run in a child; every kill point it reached, in order."""
    code = _child(_drive, str(repo_root), str(plan), None, {**env, TRACE: str(trace)})
    if code != 0:
        raise RuntimeError(f"the kill-free run exited {code}")
    return trace.read_text(encoding="utf-8").split()


def resume_run(repo_root: Path, run_id: str, env: Mapping[str, str]) -> int:
    """`autopack resume RUN_ID` in a child; its exit code."""
    return _child(_drive, str(repo_root), None, run_id, dict(env))


def sweep_runs(repo_root: Path, env: Mapping[str, str]) -> int:
    """`autopack sweep --stale-seconds 0` in a child; its exit code."""
    return _child(_sweep, str(repo_root), dict(env))


def run_ids(repo_root: Path, database_url: str | None = None) -> list[str]:
    """The runs stored for the repository (in its own SQLite file unless a URL is given)."""
    from autopack.store.engine import database_url_for, open_database
    from autopack.store.runs import list_runs

    database = open_database(database_url or database_url_for(repo_root, {}))
    try:
        return [run.run_id for run in list_runs(database)]
    finally:
        database.close()


def only_run(repo_root: Path, database_url: str | None = None) -> str:
    runs = run_ids(repo_root, database_url)
    assert len(runs) == 1, runs
    return runs[0]


def _git(repo_root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo_root, capture_output=True, text=True, check=True
    ).stdout.strip()


def committed_phases(repo_root: Path, run_id: str) -> list[str]:
    """The phase of each commit on the run's integration branch, newest first."""
    trailers = _git(
        repo_root,
        "log",
        "--format=%(trailers:key=Autopack-Phase,valueonly)",
        f"main..autopack/{run_id}",
    )
    return trailers.split()


@dataclass(frozen=True)
class RunOutcome:
    state: str
    tree: str
    # What the run changed from main: equal for runs whose configs differ (a fake server's port).
    change: str
    phases: list[str]
    summary: bool


def outcome(repo_root: Path, run_id: str) -> RunOutcome:
    """How a run ended, as a kill-free run's is compared with a killed and resumed one's."""
    from autopack.store.engine import database_url_for, open_database
    from autopack.store.runs import get_run

    database = open_database(database_url_for(repo_root, {}))
    try:
        state = get_run(database, run_id).state.value
    finally:
        database.close()
    branch = f"autopack/{run_id}"
    return RunOutcome(
        state=state,
        tree=_git(repo_root, "rev-parse", f"{branch}^{{tree}}"),
        change=_git(repo_root, "diff", "--no-ext-diff", "--full-index", f"main..{branch}"),
        phases=sorted(committed_phases(repo_root, run_id)),
        summary=(repo_root / ".autonomous_runs" / run_id / "RUN_SUMMARY.md").is_file(),
    )


@dataclass(frozen=True)
class Leftovers:
    worktrees: list[str]
    locks: list[str]
    processes: list[int]

    def __bool__(self) -> bool:
        return bool(self.worktrees or self.locks or self.processes)


def leftovers(repo_root: Path) -> Leftovers:
    """What a finished run must not leave: worktrees besides the user's, git lock files, and
    processes started by an Autopack process that is dead (a killed one's checks)."""
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    worktrees = [
        line.removeprefix("worktree ")
        for line in listed.splitlines()
        if line.startswith("worktree ") and Path(line.removeprefix("worktree ")) != repo_root
    ]
    locks = [str(path) for path in (repo_root / ".git").rglob("*.lock")]
    processes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            name, _, value = variable.decode("utf-8", "replace").partition("=")
            if name == OWNER_VARIABLE and executor_dead(value):
                processes.append(int(entry.name))
    return Leftovers(worktrees, locks, processes)


KILLED = -signal.SIGKILL
