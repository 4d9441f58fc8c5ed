"""Attempts: one row per Builder or Auditor attempt at a phase, numbered per role."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from autopack.domain.vocabulary import Role
from autopack.errors import NotFound, StoreError
from autopack.store.engine import Database
from autopack.store.schema import AttemptRow, PhaseRow, utc_now


class AttemptRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    run_id: str
    phase_id: str
    role: Role
    number: int
    outcome: str | None
    model_alias: str | None
    tokens: int
    usd: Decimal
    started_at: datetime
    finished_at: datetime | None


def start_attempt(
    database: Database, run_id: str, phase_id: str, role: Role, model_alias: str | None
) -> AttemptRecord:
    """Open the next attempt of `role` at the phase; numbers start at 1 and never repeat."""
    with database.transaction() as session:
        phase = session.get(PhaseRow, (run_id, phase_id), with_for_update=True)
        if phase is None:
            raise NotFound(f"no phase {phase_id!r} in run {run_id!r}")
        last = session.scalar(
            select(func.max(AttemptRow.number)).where(
                AttemptRow.run_id == run_id,
                AttemptRow.phase_id == phase_id,
                AttemptRow.role == role.value,
            )
        )
        row = AttemptRow(
            run_id=run_id,
            phase_id=phase_id,
            role=role.value,
            number=(last or 0) + 1,
            model_alias=model_alias,
        )
        session.add(row)
        session.flush()
        return AttemptRecord.model_validate(row, from_attributes=True)


def finish_attempt(
    database: Database, attempt_id: int, *, outcome: str, tokens: int, usd: Decimal
) -> AttemptRecord:
    with database.transaction() as session:
        row = session.get(AttemptRow, attempt_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no attempt {attempt_id}")
        if row.finished_at is not None:
            raise StoreError(f"attempt {attempt_id} already finished with outcome {row.outcome!r}")
        row.outcome, row.tokens, row.usd, row.finished_at = outcome, tokens, usd, utc_now()
        session.flush()
        return AttemptRecord.model_validate(row, from_attributes=True)


def attempts_of_phase(database: Database, run_id: str, phase_id: str) -> list[AttemptRecord]:
    with database.reading() as session:
        rows = session.scalars(
            select(AttemptRow)
            .where(AttemptRow.run_id == run_id, AttemptRow.phase_id == phase_id)
            .order_by(AttemptRow.id)
        )
        return [AttemptRecord.model_validate(row, from_attributes=True) for row in rows]
