"""Kill the demo run at every instant it passes, resume each, and count how many end as a kill-free
run does (the suite's tests/run/test_kill_points.py does this for a one-phase plan; this is the
whole four-phase demo, 88 instants).

A kill-free run lists its kill points (autopack/killpoints.py); each trial kills a fresh run at one
of them in a fork-server child, resumes it in another, and checks: DONE_SUCCESS, the kill-free
run's change, each phase committed once, the summary written, model calls paid again (at most one),
no worktree, git lock or orphaned check left.

    .venv/bin/python bench/crash.py [--plan demo|one-phase] [--jobs 2] [--only POINT ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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

ENV = {"OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", choices=["demo", "one-phase"], default="demo")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="kill only at these points (point#n)")
    args = parser.parse_args()
    os.environ.pop("AUTOPACK_DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as folder, fake_llm_server(demo_reply) as server:
        tmp = Path(folder)
        config = aliases_on(server.openai_base_url)
        reference = tmp / "reference"
        plan = create_project(reference, extra_config=config)
        if args.plan == "one-phase":
            plan = tmp / "plan.md"
            plan.write_text(ONE_PHASE_PLAN, encoding="utf-8")
        started = time.perf_counter()
        points = trace_run(reference, plan, ENV, tmp / "trace.txt")
        clean_seconds = time.perf_counter() - started
        calls = sum(server.calls_per_model.values())
        expected = outcome(reference, only_run(reference))
        assert expected.state == RunState.DONE_SUCCESS.value, expected
        chosen = args.only or points
        print(
            f"{len(points)} kill points in a kill-free {args.plan} run ({calls} model calls, "
            f"{clean_seconds:.1f} s); {len(chosen)} trials, {args.jobs} at a time"
        )

        def trial(number_point: tuple[int, str]) -> tuple[str, str | None, int, float]:
            number, point = number_point
            root = tmp / f"trial-{number}"
            # A server of its own, so the calls it counts are this trial's alone.
            with fake_llm_server(demo_reply) as own:
                trial_plan = create_project(root, extra_config=aliases_on(own.openai_base_url))
                if args.plan == "one-phase":
                    trial_plan = plan
                begun = time.perf_counter()
                killed = start_run(root, trial_plan, ENV, kill_at=point)
                if killed != KILLED:
                    return point, f"not killed there (exit {killed})", 0, 0.0
                if not run_ids(root):  # killed in the preflight, before the run existed
                    start_run(root, trial_plan, ENV)  # the next run starts clean
                run_id = only_run(root)
                resumed = (
                    sweep_runs(root, ENV)
                    if point == "run:stored#1"
                    else resume_run(root, run_id, ENV)
                )
                seconds = time.perf_counter() - begun
                repaid = sum(own.calls_per_model.values()) - calls
            ended = outcome(root, run_id)
            left = leftovers(root)
            problems = []
            if resumed != 0:
                problems.append(f"resume exit {resumed}")
            if ended.state != expected.state:
                problems.append(f"state {ended.state}")
            if ended.change != expected.change:
                problems.append("another change")
            if ended.phases != expected.phases:
                problems.append(f"phases {ended.phases}")
            if not ended.summary:
                problems.append("no summary")
            if left:
                problems.append(f"left {left}")
            if not 0 <= repaid <= 1:
                problems.append(f"{repaid} calls paid again")
            return point, "; ".join(problems) or None, repaid, seconds

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(trial, enumerate(chosen)))
    failed = [(point, why) for point, why, _, _ in results if why]
    durations = [seconds for *_, seconds in results]
    repaid = sum(paid for _, _, paid, _ in results)
    print(
        f"recovered to the kill-free end: {len(chosen) - len(failed)} of {len(chosen)} "
        f"({100 * (len(chosen) - len(failed)) / len(chosen):.1f}%)"
    )
    print(
        f"model calls paid again: {repaid} over {len(chosen)} kills "
        f"(at most one per kill allowed), {sum(1 for r in results if r[2])} kills repaid one"
    )
    print(f"trial time: median {statistics.median(durations):.1f} s, max {max(durations):.1f} s")
    for point, why in failed:
        print(f"  {point}: {why}")


if __name__ == "__main__":
    main()
