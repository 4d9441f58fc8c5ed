"""A run SIGKILLed at each instant it passes, then resumed: every instant is recoverable.

The instants are not sampled: a kill-free run lists every kill point it reached
(autopack/killpoints.py) — the start and the return of each workflow step, each ledger row, the
run stored but not started, its summary written, its terminal state — and each trial kills a
fresh run at one of them. Each resumed run must end DONE_SUCCESS with the kill-free run's tree,
each phase committed once, at most one model call paid again, and no worktree, git lock or
orphaned check left.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.store.engine import database_url_for, open_database
from autopack.store.runs import get_run, list_runs
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.kills import (
    KILLED,
    ONE_PHASE_PLAN,
    leftovers,
    resume_run,
    start_run,
    sweep_runs,
    trace_run,
)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def _runs(root: Path) -> list[str]:
    database = open_database(database_url_for(root, {}))
    try:
        return [run.run_id for run in list_runs(database)]
    finally:
        database.close()


def _only_run(root: Path) -> str:
    runs = _runs(root)
    assert len(runs) == 1, runs
    return runs[0]


def _state(root: Path, run_id: str) -> RunState:
    database = open_database(database_url_for(root, {}))
    try:
        return get_run(database, run_id).state
    finally:
        database.close()


def _outcome(root: Path, run_id: str) -> tuple[RunState, str, list[str], bool]:
    branch = f"autopack/{run_id}"
    phases = _git(
        root, "log", "--format=%(trailers:key=Autopack-Phase,valueonly)", f"main..{branch}"
    ).split()
    summary = (root / ".autonomous_runs" / run_id / "RUN_SUMMARY.md").is_file()
    return _state(root, run_id), _git(root, "rev-parse", f"{branch}^{{tree}}"), phases, summary


def test_a_run_killed_at_any_instant_it_passes_resumes_to_the_same_end(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}
    os.environ.pop("AUTOPACK_DATABASE_URL", None)
    plan = tmp_path / "plan.md"
    plan.write_text(ONE_PHASE_PLAN, encoding="utf-8")
    with fake_llm_server(demo_reply) as server:
        config = aliases_on(server.openai_base_url)

        def paid() -> int:
            return sum(server.calls_per_model.values())

        reference = tmp_path / "reference"
        create_project(reference, extra_config=config)
        points = trace_run(reference, plan, env, tmp_path / "trace.txt")
        calls = paid()
        run_id = _only_run(reference)
        expected = _outcome(reference, run_id)
        assert expected[0] is RunState.DONE_SUCCESS
        assert expected[2] == ["1.1"]
        assert expected[3]  # the summary
        # Every step's start and return, both ledger rows, and the instants around the end.
        assert len(points) >= 30, points
        inside = {"run:stored#1", "run:terminal#1", "ledger:row#2", "git:worktree-add#3"}
        assert inside <= set(points)

        wrong: dict[str, str] = {}
        for number, point in enumerate(points):
            root = tmp_path / f"trial-{number}"
            create_project(root, extra_config=config)
            before = paid()
            killed = start_run(root, plan, env, kill_at=point)
            if killed != KILLED:
                wrong[point] = f"the run was not killed there (exit {killed})"
                continue
            if not _runs(root):  # killed in the preflight, before the run existed
                killed = start_run(root, plan, env)  # the next run starts clean
            run_id = _only_run(root)
            # A run killed before its workflow started is found by the sweeper, like any other.
            resumed = (
                sweep_runs(root, env) if point == "run:stored#1" else resume_run(root, run_id, env)
            )
            outcome = _outcome(root, run_id)
            left = leftovers(root)
            repaid = paid() - before - calls
            if resumed != 0 or outcome != expected or left or not 0 <= repaid <= 1:
                wrong[point] = (
                    f"resume exit {resumed}, state {outcome[0]}, phases {outcome[2]}, "
                    f"same tree {outcome[1] == expected[1]}, summary {outcome[3]}, "
                    f"repaid {repaid}, left {left}"
                )
    assert not wrong, "\n".join(f"{point}: {why}" for point, why in wrong.items())
