"""RUN_CREATED: freeze a plan's strategy, store the run with its tiers and phases, write strategy.json."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from autopack.config import Settings
from autopack.domain.issues import BacklogEntry
from autopack.domain.machines import RunEvent
from autopack.domain.plan import PlanSpec
from autopack.domain.strategy import Strategy
from autopack.domain.vocabulary import RunScope, SafetyProfile
from autopack.issues.atomic_json import write_json_atomic
from autopack.killpoints import reached
from autopack.plan.bootstrap import bootstrap_plan
from autopack.run.routing_history import routing_history
from autopack.store.chains import ChainLink
from autopack.store.engine import Database
from autopack.store.runs import NewPhase, NewTier, RunBlueprint, create_run
from autopack.store.state_changes import transition_run
from autopack.strategy.engine import StrategyInputs, compile_strategy

STRATEGY_FILE = "strategy.json"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by creation time, unique without coordination between workers."""
    moment = now or datetime.now(UTC)
    return f"run-{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def strategy_path(runs_dir: Path, run_id: str) -> Path:
    return runs_dir / run_id / STRATEGY_FILE


def blueprint_for(
    strategy: Strategy, base_branch: str | None = None, base_commit: str | None = None
) -> RunBlueprint:
    return RunBlueprint(
        base_branch=base_branch,
        base_commit=base_commit,
        run_id=strategy.run_id,
        project_id=strategy.project_id,
        plan_path=strategy.plan_source,
        plan_title=strategy.plan_title,
        safety_profile=strategy.safety_profile,
        run_scope=strategy.run_scope,
        strategy_json=strategy.model_dump_json(),
        tiers=[
            NewTier(
                tier_id=tier.tier_id,
                name=tier.name,
                phases=[
                    NewPhase(
                        phase_id=phase.phase_id,
                        title=phase.title,
                        task_category=phase.task_category,
                        complexity=phase.complexity,
                        builder_mode=phase.builder_mode,
                    )
                    for phase in tier.phases
                ],
            )
            for tier in strategy.tiers
        ],
    )


def strategy_for(
    settings: Settings,
    plan: PlanSpec,
    *,
    run_id: str,
    backlog: Sequence[BacklogEntry] = (),
    safety_profile: SafetyProfile | None = None,
    tier_id: str | None = None,
    database: Database | None = None,
) -> Strategy:
    """Phase 0, then the strategy a run of `plan` gets; choosing a tier means single_tier.

    Under [routing] policy learned the Builder's aliases come from the project's record in
    `database` (else in the project's own database): the run freezes them with the strategy."""
    phase0 = bootstrap_plan(plan, settings.repo_root, settings.ruleset.reuse)
    return compile_strategy(
        StrategyInputs(
            run_id=run_id,
            project_id=settings.project.id,
            plan=phase0.plan,
            ruleset=settings.ruleset,
            routing=settings.routing,
            aliases=settings.aliases,
            backlog=backlog,
            safety_profile=safety_profile,
            run_scope=RunScope.SINGLE_TIER if tier_id is not None else settings.run_scope,
            tier_id=tier_id,
            stack_profile=phase0.stack_profile,
            stack_reason=phase0.stack_reason,
            reuse=phase0.reuse,
            history=routing_history(settings, database),
        )
    )


def freeze_strategy(runs_dir: Path, strategy: Strategy) -> None:
    """strategy.json, written before the run moves to RUN_CREATED: a run in RUN_CREATED always has
    it (a run killed in between writes it when it opens, run/lifecycle.py)."""
    write_json_atomic(strategy_path(runs_dir, strategy.run_id), strategy.model_dump(mode="json"))


def create_run_from_plan(
    settings: Settings,
    database: Database,
    plan: PlanSpec,
    *,
    backlog: Sequence[BacklogEntry] = (),
    safety_profile: SafetyProfile | None = None,
    tier_id: str | None = None,
    run_id: str | None = None,
    base_branch: str | None = None,
    base_commit: str | None = None,
    sandbox: str | None = None,
    chain: ChainLink | None = None,
    options_json: str | None = None,
    queue: bool = False,
) -> Strategy:
    """Compile and freeze the strategy, then persist it; the run ends this in RUN_CREATED.

    `sandbox` names the Verifier's sandbox; "none" records a --no-sandbox opt-out for the summary.
    `chain` places the run in a chain of runs (run/chain.py). `options_json` (RunOptions) is how
    it is executed, stored with it; `queue` puts it in line for a worker.
    """
    strategy = strategy_for(
        settings,
        plan,
        run_id=run_id or new_run_id(),
        backlog=backlog,
        safety_profile=safety_profile,
        tier_id=tier_id,
        database=database,
    )
    blueprint = blueprint_for(strategy, base_branch, base_commit).model_copy(
        update={
            "sandbox": sandbox,
            "settings_json": settings.model_dump_json(),
            "chain_id": chain.chain_id if chain else None,
            "chain_part": chain.part if chain else None,
            "options_json": options_json,
            "queued": queue,
        }
    )
    create_run(database, blueprint)
    reached("run:inserted")
    freeze_strategy(settings.runs_dir, strategy)
    transition_run(
        database,
        strategy.run_id,
        RunEvent.STRATEGY_FROZEN,
        cause=f"strategy frozen: {len(strategy.phases)} phases in {len(strategy.tiers)} tiers",
    )
    return strategy
