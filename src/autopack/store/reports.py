"""Aggregates across runs for the API, the dashboard and /metrics: one query each, no N+1."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autopack.domain.states import FailureReason, RunState
from autopack.domain.vocabulary import RunScope, SafetyProfile
from autopack.store.engine import Database
from autopack.store.schema import LlmCallRow, PhaseRow, ProgressEventRow, RunRow


class Spend(BaseModel):
    model_config = ConfigDict(frozen=True)

    calls: int = 0
    tokens: int = 0
    usd: Decimal = Decimal(0)


class RunListing(BaseModel):
    """A run as lists show it: state, why it ended, what it spent, how many CI runs it made."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    project_id: str
    plan_title: str
    state: RunState
    safety_profile: SafetyProfile
    run_scope: RunScope
    failure: FailureReason | None
    created_at: datetime
    ended_at: datetime | None
    queued: bool
    cancel_requested: str | None
    # The process driving it was interrupted then (Ctrl-C, SIGTERM): resumable, not ended.
    interrupted_at: datetime | None = None
    spend: Spend
    ci_runs: int


class SpendSlice(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    spend: Spend


def _spend(calls: int, tokens: int | None, usd: Any) -> Spend:
    return Spend(calls=calls, tokens=int(tokens or 0), usd=Decimal(str(usd or 0)))


_SPEND_COLUMNS = (
    func.count(LlmCallRow.id),
    func.coalesce(func.sum(LlmCallRow.input_tokens + LlmCallRow.output_tokens), 0),
    func.coalesce(func.sum(LlmCallRow.usd), 0),
)


def list_run_listings(
    database: Database,
    *,
    project_id: str | None = None,
    states: Sequence[RunState] = (),
    run_ids: Sequence[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    failure_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RunListing], int]:
    """A page of runs, newest first, and how many match in all."""
    query = select(RunRow)
    if run_ids is not None:
        query = query.where(RunRow.run_id.in_(run_ids))
    if created_after is not None:
        query = query.where(RunRow.created_at >= created_after)
    if created_before is not None:
        query = query.where(RunRow.created_at < created_before)
    if failure_code is not None:
        # A family ("budget") or one code ("budget.run").
        query = query.where(
            (RunRow.failure_code == failure_code)
            | RunRow.failure_code.startswith(f"{failure_code}.", autoescape=True)
        )
    if project_id is not None:
        query = query.where(RunRow.project_id == project_id)
    if states:
        query = query.where(RunRow.state.in_([state.value for state in states]))
    with database.reading() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            session.scalars(
                query.order_by(RunRow.created_at.desc(), RunRow.run_id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
        ids = [row.run_id for row in rows]
        spend = {
            run_id: _spend(calls, tokens, usd)
            for run_id, calls, tokens, usd in session.execute(
                select(LlmCallRow.run_id, *_SPEND_COLUMNS)
                .where(LlmCallRow.run_id.in_(ids))
                .group_by(LlmCallRow.run_id)
            )
        }
        ci_runs = dict(
            session.execute(
                select(ProgressEventRow.run_id, func.count(ProgressEventRow.id))
                .where(ProgressEventRow.run_id.in_(ids), ProgressEventRow.kind == "verified")
                .group_by(ProgressEventRow.run_id)
            ).all()
        )
        listings = [
            _listing(row, spend.get(row.run_id, Spend()), int(ci_runs.get(row.run_id, 0)))
            for row in rows
        ]
    return listings, int(total)


def _listing(row: RunRow, spend: Spend, ci_runs: int) -> RunListing:
    return RunListing(
        run_id=row.run_id,
        project_id=row.project_id,
        plan_title=row.plan_title,
        state=RunState(row.state),
        safety_profile=SafetyProfile(row.safety_profile),
        run_scope=RunScope(row.run_scope),
        failure=FailureReason(code=row.failure_code, message=row.failure_message)
        if row.failure_code and row.failure_message
        else None,
        created_at=row.created_at,
        ended_at=row.ended_at,
        queued=row.queued_at is not None and row.claimed_at is None,
        cancel_requested=row.cancel_requested,
        interrupted_at=row.interrupted_at,
        spend=spend,
        ci_runs=ci_runs,
    )


def run_listing(database: Database, run_id: str) -> RunListing | None:
    with database.reading() as session:
        return listing_in(session, run_id)


def listing_in(session: Session, run_id: str) -> RunListing | None:
    """The run's line, read in the caller's transaction: three lookups by key, without the
    page's count and grouping, which cost a third of a run-status request's time."""
    row = session.get(RunRow, run_id)
    if row is None:
        return None
    calls, tokens, usd = session.execute(
        select(*_SPEND_COLUMNS).where(LlmCallRow.run_id == run_id)
    ).one()
    ci_runs = session.scalar(
        select(func.count(ProgressEventRow.id)).where(
            ProgressEventRow.run_id == run_id, ProgressEventRow.kind == "verified"
        )
    )
    return _listing(row, _spend(calls, tokens, usd), int(ci_runs or 0))


def spend_by(database: Database, dimension: str, *, run_id: str | None = None) -> list[SpendSlice]:
    """Spend grouped by role, model, tier, phase or category:complexity, biggest first."""
    keys: dict[str, Any] = {
        "role": (LlmCallRow.role,),
        "model": (LlmCallRow.provider, LlmCallRow.model),
        "tier": (LlmCallRow.run_id, LlmCallRow.tier_id),
        "phase": (LlmCallRow.run_id, LlmCallRow.phase_id),
        "category": (PhaseRow.task_category, PhaseRow.complexity),
    }
    if dimension not in keys:
        raise ValueError(f"unknown spend dimension {dimension!r}")
    columns = keys[dimension]
    query = select(*columns, *_SPEND_COLUMNS)
    if dimension == "category":
        query = query.join(
            PhaseRow,
            (PhaseRow.run_id == LlmCallRow.run_id) & (PhaseRow.phase_id == LlmCallRow.phase_id),
        )
    if run_id is not None:
        query = query.where(LlmCallRow.run_id == run_id)
    query = query.group_by(*columns)
    # Tiers and phases are named by run/tier across runs, by their own id within one run.
    skip_run = 1 if dimension in ("tier", "phase") and run_id is not None else 0
    separator = "/" if dimension in ("tier", "phase") else ":"
    with database.reading() as session:
        slices = [
            SpendSlice(
                key=separator.join(str(part) for part in row[skip_run : len(columns)]),
                spend=_spend(*row[len(columns) :]),
            )
            for row in session.execute(query)
        ]
    return sorted(slices, key=lambda s: (-s.spend.usd, -s.spend.tokens, s.key))


def runs_by_state(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            state: int(count)
            for state, count in session.execute(
                select(RunRow.state, func.count()).group_by(RunRow.state)
            )
        }


def phases_by_state(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            state: int(count)
            for state, count in session.execute(
                select(PhaseRow.state, func.count()).group_by(PhaseRow.state)
            )
        }
