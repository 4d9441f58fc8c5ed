"""State moves that a resumed step may repeat: a move already made is not made, nor refused, twice.

A step's own commit and DBOS's checkpoint of that step are two writes; a kill between them makes
the step run again on resume. Its moves then find the event among the entity's last few (a step
makes at most three moves of one entity), and pass.
"""

from __future__ import annotations

from sqlalchemy import select

from autopack.domain.machines import PhaseEvent, RunEvent, TierEvent
from autopack.domain.states import FailureReason
from autopack.errors import IllegalTransition
from autopack.store.engine import Database
from autopack.store.schema import EventRow
from autopack.store.state_changes import transition_phase, transition_run, transition_tier

RECENT = 3


def _recent_events(database: Database, run_id: str, entity: str, entity_id: str) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(EventRow.event)
                .where(
                    EventRow.run_id == run_id,
                    EventRow.entity == entity,
                    EventRow.entity_id == entity_id,
                )
                .order_by(EventRow.id.desc())
                .limit(RECENT)
            )
        )


def move_run(
    database: Database,
    run_id: str,
    event: RunEvent,
    cause: str,
    reason: FailureReason | None = None,
) -> None:
    try:
        transition_run(database, run_id, event, cause=cause, reason=reason)
    except IllegalTransition:
        if event.value not in _recent_events(database, run_id, "run", run_id):
            raise


def move_tier(database: Database, run_id: str, tier_id: str, event: TierEvent, cause: str) -> None:
    try:
        transition_tier(database, run_id, tier_id, event, cause=cause)
    except IllegalTransition:
        if event.value not in _recent_events(database, run_id, "tier", tier_id):
            raise


def move_phase(
    database: Database, run_id: str, phase_id: str, event: PhaseEvent, cause: str
) -> None:
    try:
        transition_phase(database, run_id, phase_id, event, cause=cause)
    except IllegalTransition:
        if event.value not in _recent_events(database, run_id, "phase", phase_id):
            raise
