"""Runs with their tiers and phases: created in one transaction, read back as typed values."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.domain.vocabulary import (
    Approval,
    BuilderMode,
    Cleanliness,
    Complexity,
    RunScope,
    SafetyProfile,
    TaskCategory,
)
from autopack.errors import NotFound, StoreError
from autopack.store.engine import Database
from autopack.store.schema import EventRow, PhaseRow, ProjectRow, RunRow, TierRow, utc_now


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NewPhase(_Value):
    phase_id: str
    title: str
    task_category: TaskCategory
    complexity: Complexity
    builder_mode: BuilderMode


class NewTier(_Value):
    tier_id: str
    name: str
    phases: list[NewPhase]


class RunBlueprint(_Value):
    run_id: str
    project_id: str
    plan_path: str | None
    plan_title: str
    safety_profile: SafetyProfile
    run_scope: RunScope
    strategy_json: str
    tiers: list[NewTier]
    base_branch: str | None = None
    base_commit: str | None = None
    sandbox: str | None = None
    settings_json: str | None = None
    # A part of a chain (store/chains.py): the chain and the part's place in it, from 1.
    chain_id: str | None = None
    chain_part: int | None = None
    # How it is to be executed (RunOptions JSON), stored with the run so that no instant exists
    # where a run is stored without them; `queued` puts it in line for a worker.
    options_json: str | None = None
    queued: bool = False


class PhaseRecord(_Value):
    phase_id: str
    tier_id: str
    title: str
    position: int
    state: PhaseState
    task_category: TaskCategory
    complexity: Complexity
    builder_mode: BuilderMode
    attempts_used: int
    approval: Approval | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None


class TierRecord(_Value):
    tier_id: str
    name: str
    position: int
    state: TierState
    cleanliness: Cleanliness | None
    phases: list[PhaseRecord]


class RunRecord(_Value):
    run_id: str
    project_id: str
    plan_path: str | None
    plan_title: str
    safety_profile: SafetyProfile
    run_scope: RunScope
    state: RunState
    failure: FailureReason | None
    strategy_json: str
    base_branch: str | None
    base_commit: str | None
    sandbox: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    tiers: list[TierRecord]
    # The process driving it was interrupted then (Ctrl-C, SIGTERM): resumable, not ended.
    interrupted_at: datetime | None = None


class EventRecord(_Value):
    id: int
    run_id: str
    entity: str
    entity_id: str
    from_state: str | None
    to_state: str
    event: str
    cause: str
    reason_code: str | None
    reason_message: str | None
    at: datetime


def create_run(database: Database, blueprint: RunBlueprint) -> None:
    """Insert the run in PLAN_BOOTSTRAP, tiers PENDING, phases QUEUED and a creation event, atomically."""
    with database.transaction() as session:
        if session.get(RunRow, blueprint.run_id) is not None:
            raise StoreError(f"run {blueprint.run_id} already exists")
        if session.get(ProjectRow, blueprint.project_id) is None:
            session.add(ProjectRow(project_id=blueprint.project_id))
            session.flush()
        session.add(
            RunRow(
                run_id=blueprint.run_id,
                project_id=blueprint.project_id,
                plan_path=blueprint.plan_path,
                plan_title=blueprint.plan_title,
                safety_profile=blueprint.safety_profile.value,
                run_scope=blueprint.run_scope.value,
                state=RunState.PLAN_BOOTSTRAP.value,
                strategy_json=blueprint.strategy_json,
                base_branch=blueprint.base_branch,
                base_commit=blueprint.base_commit,
                sandbox=blueprint.sandbox,
                settings_json=blueprint.settings_json,
                chain_id=blueprint.chain_id,
                chain_part=blueprint.chain_part,
                options_json=blueprint.options_json,
                queued_at=utc_now() if blueprint.queued else None,
            )
        )
        session.flush()
        position = 0
        for tier_position, tier in enumerate(blueprint.tiers, start=1):
            session.add(
                TierRow(
                    run_id=blueprint.run_id,
                    tier_id=tier.tier_id,
                    name=tier.name,
                    position=tier_position,
                    state=TierState.PENDING.value,
                )
            )
            session.flush()
            for phase in tier.phases:
                position += 1
                session.add(
                    PhaseRow(
                        run_id=blueprint.run_id,
                        phase_id=phase.phase_id,
                        tier_id=tier.tier_id,
                        title=phase.title,
                        position=position,
                        state=PhaseState.QUEUED.value,
                        task_category=phase.task_category.value,
                        complexity=phase.complexity.value,
                        builder_mode=phase.builder_mode.value,
                    )
                )
        session.add(
            EventRow(
                run_id=blueprint.run_id,
                entity="run",
                entity_id=blueprint.run_id,
                from_state=None,
                to_state=RunState.PLAN_BOOTSTRAP.value,
                event="CREATED",
                cause=f"run created from {blueprint.plan_path or 'a plan'}: {position} phases",
            )
        )


def _phase_record(row: PhaseRow) -> PhaseRecord:
    return PhaseRecord(
        phase_id=row.phase_id,
        tier_id=row.tier_id,
        title=row.title,
        position=row.position,
        state=PhaseState(row.state),
        task_category=TaskCategory(row.task_category),
        complexity=Complexity(row.complexity),
        builder_mode=BuilderMode(row.builder_mode),
        attempts_used=row.attempts_used,
        approval=Approval(row.approval) if row.approval else None,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
    )


def get_run(database: Database, run_id: str) -> RunRecord:
    with database.reading() as session:
        return run_record(session, run_id)


def run_record(session: Session, run_id: str) -> RunRecord:
    """The run with its tiers and phases, read in the caller's transaction; NotFound if none."""
    run = session.get(RunRow, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    tiers = session.scalars(
        select(TierRow).where(TierRow.run_id == run_id).order_by(TierRow.position)
    ).all()
    phases = session.scalars(
        select(PhaseRow).where(PhaseRow.run_id == run_id).order_by(PhaseRow.position)
    ).all()
    failure = (
        FailureReason(code=run.failure_code, message=run.failure_message or run.failure_code)
        if run.failure_code
        else None
    )
    return RunRecord(
        run_id=run.run_id,
        project_id=run.project_id,
        plan_path=run.plan_path,
        plan_title=run.plan_title,
        safety_profile=SafetyProfile(run.safety_profile),
        run_scope=RunScope(run.run_scope),
        state=RunState(run.state),
        failure=failure,
        strategy_json=run.strategy_json,
        base_branch=run.base_branch,
        base_commit=run.base_commit,
        sandbox=run.sandbox,
        created_at=run.created_at,
        updated_at=run.updated_at,
        ended_at=run.ended_at,
        interrupted_at=run.interrupted_at,
        tiers=[
            TierRecord(
                tier_id=tier.tier_id,
                name=tier.name,
                position=tier.position,
                state=TierState(tier.state),
                cleanliness=Cleanliness(tier.cleanliness) if tier.cleanliness else None,
                phases=[_phase_record(p) for p in phases if p.tier_id == tier.tier_id],
            )
            for tier in tiers
        ],
    )


class RunLine(NamedTuple):
    run_id: str
    state: RunState
    created_at: datetime
    interrupted_at: datetime | None


def list_runs(
    database: Database, *, project_id: str | None = None, state: RunState | None = None
) -> list[RunLine]:
    """The runs, newest first."""
    query = select(RunRow.run_id, RunRow.state, RunRow.created_at, RunRow.interrupted_at).order_by(
        RunRow.created_at.desc()
    )
    if project_id is not None:
        query = query.where(RunRow.project_id == project_id)
    if state is not None:
        query = query.where(RunRow.state == state.value)
    with database.reading() as session:
        return [
            RunLine(run_id, RunState(value), created, interrupted)
            for run_id, value, created, interrupted in session.execute(query)
        ]


def list_events(database: Database, run_id: str) -> list[EventRecord]:
    with database.reading() as session:
        rows = session.scalars(
            select(EventRow).where(EventRow.run_id == run_id).order_by(EventRow.id)
        ).all()
        return [EventRecord.model_validate(row, from_attributes=True) for row in rows]


def set_tier_cleanliness(
    database: Database, run_id: str, tier_id: str, cleanliness: Cleanliness
) -> None:
    with database.transaction() as session:
        row = session.get(TierRow, (run_id, tier_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no tier {tier_id!r} in run {run_id!r}")
        row.cleanliness = cleanliness.value


def set_phase_approval(
    database: Database, run_id: str, phase_id: str, approval: Approval, by: str | None = None
) -> PhaseRecord:
    """Record that the phase awaits approval, or who approved it and when (once: the first
    approval stands)."""
    with database.transaction() as session:
        row = session.get(PhaseRow, (run_id, phase_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no phase {phase_id!r} in run {run_id!r}")
        if row.approval != Approval.APPROVED.value:
            row.approval = approval.value
            if approval is Approval.APPROVED:
                row.approved_by, row.approved_at = by, utc_now()
        return _phase_record(row)


def frozen_settings(database: Database, run_id: str) -> str | None:
    """The settings the run was created with, as JSON (None for runs created before they were kept)."""
    with database.reading() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return row.settings_json
