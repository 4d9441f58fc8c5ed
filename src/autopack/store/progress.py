"""A run's live progress (steps, spend, retries) as rows, so any process can stream it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from autopack.store.engine import Database
from autopack.store.schema import ProgressEventRow, RunRow, utc_now


class ProgressEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    run_id: str
    kind: str
    at: datetime
    details: dict[str, Any]

    def as_message(self) -> dict[str, Any]:
        """The event as the CLI's --json and the API's streams show it."""
        return {**self.details, "kind": self.kind, "run_id": self.run_id, "id": self.id}


def record_progress(database: Database, run_id: str, kind: str, details: dict[str, Any]) -> int:
    with database.transaction() as session:
        row = ProgressEventRow(
            run_id=run_id, kind=kind, payload=json.dumps(details, default=str), at=utc_now()
        )
        session.add(row)
        session.flush()
        return row.id


def progress_after(
    database: Database,
    after_id: int,
    *,
    run_id: str | None = None,
    project_ids: Sequence[str] | None = None,
    limit: int = 500,
) -> list[ProgressEvent]:
    """Events newer than `after_id`, oldest first; of one run, or of every run (of these
    projects only, with `project_ids`)."""
    query = select(ProgressEventRow).where(ProgressEventRow.id > after_id)
    if run_id is not None:
        query = query.where(ProgressEventRow.run_id == run_id)
    if project_ids is not None:
        query = query.where(
            ProgressEventRow.run_id.in_(
                select(RunRow.run_id).where(RunRow.project_id.in_(project_ids))
            )
        )
    with database.reading() as session:
        rows = session.scalars(query.order_by(ProgressEventRow.id).limit(limit))
        return [
            ProgressEvent(
                id=row.id,
                run_id=row.run_id,
                kind=row.kind,
                at=row.at,
                details=json.loads(row.payload),
            )
            for row in rows
        ]


def last_progress_id(database: Database) -> int:
    with database.reading() as session:
        return session.scalar(select(func.max(ProgressEventRow.id))) or 0


def has_progress(database: Database, run_id: str, kind: str) -> bool:
    """Whether the run has recorded an event of this kind, whenever."""
    with database.reading() as session:
        query = select(ProgressEventRow.id).where(
            ProgressEventRow.run_id == run_id, ProgressEventRow.kind == kind
        )
        return session.scalar(query.limit(1)) is not None
