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
from pathlib import Path

from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.kills import (
    KILLED,
    ONE_PHASE_PLAN,
    leftovers,
    only_run,
    outcome,
    resume_run,
    run_ids,
    start_run,
    sweep_runs,
    trace_run,
)


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
        run_id = only_run(reference)
        expected = outcome(reference, run_id)
        assert expected.state == RunState.DONE_SUCCESS.value
        assert expected.phases == ["1.1"]
        assert expected.summary
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
            if not run_ids(root):  # killed in the preflight, before the run existed
                killed = start_run(root, plan, env)  # the next run starts clean
            run_id = only_run(root)
            # A run killed before its workflow started is found by the sweeper, like any other.
            resumed = (
                sweep_runs(root, env) if point == "run:stored#1" else resume_run(root, run_id, env)
            )
            ended = outcome(root, run_id)
            left = leftovers(root)
            repaid = paid() - before - calls
            if resumed != 0 or ended != expected or left or not 0 <= repaid <= 1:
                wrong[point] = (
                    f"resume exit {resumed}, state {ended.state}, phases {ended.phases}, "
                    f"same tree {ended.tree == expected.tree}, summary {ended.summary}, "
                    f"repaid {repaid}, left {left}"
                )
    assert not wrong, "\n".join(f"{point}: {why}" for point, why in wrong.items())
