"""Issues in the database: phase occurrences, the run index (one row per key) and the project backlog."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from autopack.domain.issues import BacklogEntry, PhaseIssue, worse
from autopack.domain.vocabulary import Severity
from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.schema import (
    BacklogIssueRow,
    PhaseIssueRow,
    PhaseRow,
    ProjectRow,
    RunIssueRow,
    utc_now,
)


def record_phase_issue(database: Database, run_id: str, phase_id: str, issue: PhaseIssue) -> int:
    """Store the occurrence and fold it into the run index; returns the key's occurrence count."""
    with database.transaction() as session:
        if session.get(PhaseRow, (run_id, phase_id)) is None:
            raise NotFound(f"no phase {phase_id!r} in run {run_id!r}")
        session.add(
            PhaseIssueRow(
                run_id=run_id,
                phase_id=phase_id,
                issue_key=issue.issue_key,
                severity=issue.severity.value,
                effective_severity=issue.effective_severity.value,
                source=issue.source.value,
                category=issue.category,
                payload_json=issue.model_dump_json(),
            )
        )
        indexed = session.get(RunIssueRow, (run_id, issue.issue_key), with_for_update=True)
        if indexed is None:
            indexed = RunIssueRow(
                run_id=run_id,
                issue_key=issue.issue_key,
                severity=issue.severity.value,
                effective_severity=issue.effective_severity.value,
                occurrence_count=issue.occurrence_count,
                first_phase_id=phase_id,
                last_phase_id=phase_id,
            )
            session.add(indexed)
        else:
            indexed.occurrence_count += issue.occurrence_count
            indexed.last_phase_id = phase_id
            indexed.severity = worse(Severity(indexed.severity), issue.severity).value
            indexed.effective_severity = worse(
                Severity(indexed.effective_severity), issue.effective_severity
            ).value
        return indexed.occurrence_count


def run_issue_index(database: Database, run_id: str) -> list[tuple[str, Severity, int]]:
    """(issue_key, effective severity, occurrence_count) for each distinct key of a run."""
    with database.transaction() as session:
        rows = session.scalars(
            select(RunIssueRow).where(RunIssueRow.run_id == run_id).order_by(RunIssueRow.issue_key)
        )
        return [
            (row.issue_key, Severity(row.effective_severity), row.occurrence_count) for row in rows
        ]


def phase_issues(database: Database, run_id: str, phase_id: str) -> list[PhaseIssue]:
    with database.transaction() as session:
        rows = session.scalars(
            select(PhaseIssueRow)
            .where(PhaseIssueRow.run_id == run_id, PhaseIssueRow.phase_id == phase_id)
            .order_by(PhaseIssueRow.id)
        )
        return [PhaseIssue.model_validate_json(row.payload_json) for row in rows]


def load_backlog(database: Database, project_id: str) -> list[BacklogEntry]:
    with database.transaction() as session:
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
