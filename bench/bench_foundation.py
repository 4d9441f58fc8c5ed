"""Foundation figures: plan parsing, strategy compilation, and state changes per second on each database.

Run: .venv/bin/python bench/bench_foundation.py   (PostgreSQL figures need Debian's postgresql package)
Prints figures; asserts nothing, since timings belong here and not in tests.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from autopack.domain.machines import PhaseEvent, RunEvent
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.llm.aliases import default_aliases
from autopack.plan.load import parse_plan_text
from autopack.plan.render_markdown import render_markdown
from autopack.store.engine import Database, open_database
from autopack.store.runs import create_run
from autopack.store.state_changes import transition_phase, transition_run
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset
from autopack.testing.postgres import postgres_unavailable_reason, running_postgres
from autopack.testing.runs import blueprint


def timed(label: str, action: Callable[[], object], repeat: int) -> None:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    print(f"{label:<48} median {statistics.median(samples) * 1000:8.2f} ms  (n={repeat})")


def big_plan(tiers: int, phases_per_tier: int) -> PlanSpec:
    return PlanSpec(
        title="Benchmark",
        tiers=tuple(
            TierSpec(
                id=f"t{t}",
                name=f"Tier {t}",
                phases=tuple(
                    PhaseSpec(
                        id=f"t{t}p{p}",
                        title=f"Refactor module {p}" if p % 3 == 0 else f"Add endpoint {p}",
                        tier_id=f"t{t}",
                        scope=(f"src/mod{p}/x.py", "tests/test_x.py"),
                        description="Do the work.\n" * 20,
                    )
                    for p in range(phases_per_tier)
                ),
            )
            for t in range(tiers)
        ),
    )


def state_changes_per_second(database: Database, runs: int) -> float:
    start = time.perf_counter()
    changes = 0
    for number in range(runs):
        run_id = f"bench-{number}"
        create_run(database, blueprint(run_id))
        for event in (RunEvent.STRATEGY_FROZEN, RunEvent.QUEUE_OPENED, RunEvent.PHASE_STARTED):
            transition_run(database, run_id, event, cause="bench")
            changes += 1
        for event in (
            PhaseEvent.START,
            PhaseEvent.SUBMIT,
            PhaseEvent.GATE_PASS,
            PhaseEvent.CI_PASS,
        ):
            transition_phase(database, run_id, "a", event, cause="bench")
            changes += 1
    return changes / (time.perf_counter() - start)


def main() -> None:
    plan = big_plan(5, 5)
    text = render_markdown(plan)
    print(f"plan of 25 phases: {len(text):,} characters of Markdown")
    timed(
        "parse 25-phase Markdown plan",
        lambda: parse_plan_text(text, fmt="markdown", source="b.md"),
        50,
    )
    inputs = StrategyInputs(
        run_id="bench",
        project_id="bench",
        plan=plan,
        ruleset=Ruleset(),
        routing=Routing(),
        aliases=default_aliases(),
    )
    timed("compile strategy for 25 phases", lambda: compile_strategy(inputs), 50)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        database = open_database(f"sqlite:///{Path(folder) / 'a.db'}")
        print(
            f"{'open + migrate new SQLite database':<48} {(time.perf_counter() - start) * 1000:8.2f} ms"
        )
        print(
            f"{'SQLite state changes (row + event) per second':<48} {state_changes_per_second(database, 30):8.0f}"
        )
        database.close()
    reason = postgres_unavailable_reason()
    if reason:
        print(f"PostgreSQL skipped: {reason}")
        return
    with running_postgres() as server:
        database = open_database(server.create_database())
        print(
            f"{'PostgreSQL state changes (row + event) per second':<48} {state_changes_per_second(database, 30):8.0f}"
        )
        database.close()


if __name__ == "__main__":
    main()
