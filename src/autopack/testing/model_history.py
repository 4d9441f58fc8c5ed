"""A model history written into a real store the way runs write it: for tests and bench/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from autopack.domain.machines import PhaseEvent
from autopack.domain.vocabulary import (
    BuilderMode,
    Complexity,
    Role,
    RunScope,
    SafetyProfile,
    TaskCategory,
)
from autopack.llm.aliases import ModelAlias
from autopack.store.attempts import finish_attempt, start_attempt
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, record_llm_call
from autopack.store.runs import NewPhase, NewTier, RunBlueprint, create_run
from autopack.store.state_changes import transition_phase


@dataclass(frozen=True)
class PastAttempt:
    """One Builder attempt: the alias it was routed to and what its one call cost."""

    alias: str
    input_tokens: int
    output_tokens: int
    usd: Decimal


@dataclass(frozen=True)
class PastPhase:
    phase_id: str
    task_category: TaskCategory
    complexity: Complexity
    attempts: tuple[PastAttempt, ...]
    committed: bool


def seed_run(
    database: Database,
    aliases: dict[str, ModelAlias],
    *,
    project_id: str,
    run_id: str,
    phases: Sequence[PastPhase],
) -> None:
    """One ended run of `phases`: attempts, ledger rows and phase states through the store's own
    functions (the phases COMPLETE or FAILED as `committed` says)."""
    create_run(
        database,
        RunBlueprint(
            run_id=run_id,
            project_id=project_id,
            plan_path="plan.md",
            plan_title="History",
            safety_profile=SafetyProfile.NORMAL,
            run_scope=RunScope.MULTI_TIER,
            strategy_json="{}",
            tiers=[
                NewTier(
                    tier_id="1",
                    name="History",
                    phases=[
                        NewPhase(
                            phase_id=phase.phase_id,
                            title=phase.phase_id,
                            task_category=phase.task_category,
                            complexity=phase.complexity,
                            builder_mode=BuilderMode.TWEAK_LIGHT,
                        )
                        for phase in phases
                    ],
                )
            ],
        ),
    )
    for phase in phases:
        transition_phase(database, run_id, phase.phase_id, PhaseEvent.START, cause="seeded")
        for past in phase.attempts:
            attempt = start_attempt(database, run_id, phase.phase_id, Role.BUILDER, past.alias)
            alias = aliases[past.alias]
            record_llm_call(
                database,
                LlmCallRecord(
                    run_id=run_id,
                    tier_id="1",
                    phase_id=phase.phase_id,
                    attempt=attempt.number,
                    role=Role.BUILDER,
                    provider=alias.provider.value,
                    model=alias.model,
                    input_tokens=past.input_tokens,
                    output_tokens=past.output_tokens,
                    usd=past.usd,
                    latency_ms=1,
                    outcome="ok",
                ),
            )
            finish_attempt(
                database,
                attempt.id,
                outcome="seeded",
                tokens=past.input_tokens + past.output_tokens,
                usd=past.usd,
            )
        events = (
            (PhaseEvent.SUBMIT, PhaseEvent.GATE_PASS, PhaseEvent.CI_PASS)
            if phase.committed
            else (PhaseEvent.FAIL,)
        )
        for event in events:
            transition_phase(database, run_id, phase.phase_id, event, cause="seeded")
