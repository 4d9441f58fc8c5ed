"""Issues in the database: phase occurrences, the run index (one row per key) and the project backlog."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from autopack.domain.issues import BacklogEntry
from autopack.store.engine import Database
from autopack.store.schema import (
    BacklogIssueRow,
    ProjectRow,
    utc_now,
)


def load_backlog(database: Database, project_id: str) -> list[BacklogEntry]:
    with database.reading() as session:
        rows = session.scalars(
            select(BacklogIssueRow)
            .where(BacklogIssueRow.project_id == project_id)
            .order_by(BacklogIssueRow.issue_key)
        )
        return [BacklogEntry.model_validate_json(row.payload_json) for row in rows]


def save_backlog(database: Database, project_id: str, entries: Sequence[BacklogEntry]) -> None:
    """Upsert every entry by issue_key in one transaction; keys not given are left as they are."""
    with database.transaction() as session:
        if session.get(ProjectRow, project_id) is None:
            session.add(ProjectRow(project_id=project_id))
            session.flush()
        for entry in entries:
            row = session.get(BacklogIssueRow, (project_id, entry.issue_key), with_for_update=True)
            if row is None:
                row = BacklogIssueRow(project_id=project_id, issue_key=entry.issue_key)
                session.add(row)
            row.severity = entry.severity.value
            row.effective_severity = entry.effective_severity.value
            row.issue_state = entry.issue_state.value
            row.age_in_runs = entry.age_in_runs
            row.age_in_tiers = entry.age_in_tiers
            row.payload_json = entry.model_dump_json()
            row.updated_at = utc_now()
