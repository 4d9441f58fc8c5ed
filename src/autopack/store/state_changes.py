"""Every state change is one transaction: lock the row, check the move, update it, append its event.

Row and event are written together or not at all, so history and state never disagree.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.domain.machines import (
    PHASE_ATTEMPT_EVENTS,
    PHASE_MACHINE,
    RUN_MACHINE,
    TIER_MACHINE,
    PhaseEvent,
    RunEvent,
    TierEvent,
)
from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.errors import MissingFailureReason, NotFound
from autopack.store.engine import Database
from autopack.store.schema import EventRow, PhaseRow, RunRow, TierRow, utc_now


def _event_row(
    run_id: str,
    entity: str,
    entity_id: str,
    before: str,
    after: str,
    event: str,
    cause: str,
    reason: FailureReason | None = None,
) -> EventRow:
    return EventRow(
        run_id=run_id,
        entity=entity,
        entity_id=entity_id,
        from_state=before,
        to_state=after,
        event=event,
        cause=cause,
        reason_code=reason.code if reason else None,
        reason_message=reason.message if reason else None,
    )


def _locked_run(session: Session, run_id: str) -> RunRow:
    row = session.scalars(
        select(RunRow).where(RunRow.run_id == run_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return row


def transition_run(
    database: Database,
    run_id: str,
    event: RunEvent,
    *,
    cause: str,
    reason: FailureReason | None = None,
) -> RunState:
    with database.transaction() as session:
        row = _locked_run(session, run_id)
        before = RunState(row.state)
        after = RUN_MACHINE.next_state(before, event)
        if after.is_failure and reason is None:
            raise MissingFailureReason(
                f"run {run_id}: {after} needs a failure reason (code and message)"
            )
        if not after.is_failure and reason is not None:
            raise MissingFailureReason(
                f"run {run_id}: {after} is not a failure; it takes no failure reason"
            )
        now = utc_now()
        row.state = after.value
        row.updated_at = now
        if after.is_terminal:
            row.ended_at = now
        if reason is not None:
            row.failure_code = reason.code
            row.failure_message = reason.message
        session.add(_event_row(run_id, "run", run_id, before, after, event.value, cause, reason))
        return after


def transition_tier(
    database: Database, run_id: str, tier_id: str, event: TierEvent, *, cause: str
) -> TierState:
    with database.transaction() as session:
        _locked_run(session, run_id)
        row = session.get(TierRow, (run_id, tier_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no tier {tier_id!r} in run {run_id!r}")
        before = TierState(row.state)
        after = TIER_MACHINE.next_state(before, event)
        row.state = after.value
        session.add(_event_row(run_id, "tier", tier_id, before, after, event.value, cause))
        return after


def transition_phase(
    database: Database, run_id: str, phase_id: str, event: PhaseEvent, *, cause: str
) -> PhaseState:
    with database.transaction() as session:
        _locked_run(session, run_id)
        row = session.get(PhaseRow, (run_id, phase_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no phase {phase_id!r} in run {run_id!r}")
        before = PhaseState(row.state)
        after = PHASE_MACHINE.next_state(before, event)
        row.state = after.value
        if event in PHASE_ATTEMPT_EVENTS:
            row.attempts_used += 1
        session.add(_event_row(run_id, "phase", phase_id, before, after, event.value, cause))
        return after
