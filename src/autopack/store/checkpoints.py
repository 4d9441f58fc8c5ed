"""Model answers already paid for, by conversation and request number; interrupts of run executors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from autopack.store.engine import Database
from autopack.store.schema import LlmCheckpointRow, RunRow, utc_now


def load_checkpoints(database: Database, run_id: str, conversation: str) -> dict[int, str]:
    with database.reading() as session:
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
