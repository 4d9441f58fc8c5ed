"""Model answers already paid for, by conversation and request number; heartbeats of run executors
and their interrupts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update

from autopack.store.engine import Database
from autopack.store.schema import LlmCheckpointRow, RunRow, utc_now


def load_checkpoints(database: Database, run_id: str, conversation: str) -> dict[int, str]:
    with database.transaction() as session:
        rows = session.scalars(
            select(LlmCheckpointRow).where(
                LlmCheckpointRow.run_id == run_id, LlmCheckpointRow.conversation == conversation
            )
        )
        return {row.sequence: row.response_json for row in rows}


def save_checkpoint(
    database: Database, run_id: str, conversation: str, sequence: int, response_json: str
) -> None:
    with database.transaction() as session:
        if session.get(LlmCheckpointRow, (run_id, conversation, sequence)) is None:
            session.add(
                LlmCheckpointRow(
                    run_id=run_id,
                    conversation=conversation,
                    sequence=sequence,
                    response_json=response_json,
                )
            )


def beat(database: Database, run_id: str, executor_id: str) -> None:
    """The executor driving `run_id` is alive now."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id)
        if row is not None:
            row.executor_id, row.heartbeat_at = executor_id, utc_now()


def silent_runs(
    database: Database, older_than: timedelta, *, interrupted: bool = False
) -> list[tuple[str, str | None]]:
    """(run_id, executor_id) of unfinished runs whose executor has not beaten for `older_than`;
    runs whose executor was interrupted (stopped on purpose) only with `interrupted`."""
    cutoff: datetime = utc_now() - older_than
    query = select(RunRow.run_id, RunRow.executor_id, RunRow.heartbeat_at).where(
        RunRow.ended_at.is_(None), RunRow.heartbeat_at.is_not(None)
    )
    if not interrupted:
        query = query.where(RunRow.interrupted_at.is_(None))
    with database.transaction() as session:
        rows = session.execute(query).all()
    silent = []
    for run_id, executor_id, heartbeat in rows:
        if heartbeat is None:
            continue
        moment = heartbeat if heartbeat.tzinfo else heartbeat.replace(tzinfo=cutoff.tzinfo)
        if moment < cutoff:
            silent.append((run_id, executor_id))
    return silent


def mark_interrupted(database: Database, run_ids: Sequence[str]) -> None:
    """The process driving these runs was interrupted now; those that had ended stay as they are."""
    with database.transaction() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.run_id.in_(run_ids), RunRow.ended_at.is_(None))
            .values(interrupted_at=utc_now())
        )


def clear_interrupted(database: Database, run_id: str) -> None:
    """An executor drives the run again."""
    with database.transaction() as session:
        session.execute(
            update(RunRow)
            .where(RunRow.run_id == run_id, RunRow.interrupted_at.is_not(None))
            .values(interrupted_at=None)
        )
