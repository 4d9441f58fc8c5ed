"""At the end of a run: its phase files become the run index, and the run ages the project backlog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autopack.domain.issues import BacklogEntry, PhaseIssue
from autopack.domain.vocabulary import IssueState
from autopack.issues.backlog_aging import (
    BACKLOG_FILE,
    AgingThresholds,
    age_backlog,
    write_backlog_file,
)
from autopack.issues.phase_issue_file import PhaseIssueFile, add_issue, read_phase_issue_file
from autopack.issues.run_issue_index import RunIssueIndex, build_run_index, write_run_index
from autopack.store.engine import Database
from autopack.store.issue_records import load_backlog, save_backlog


def settle_run_issues(
    database: Database,
    runs_dir: Path,
    project_id: str,
    run_id: str,
    thresholds: AgingThresholds,
) -> tuple[RunIssueIndex, list[BacklogEntry]]:
    """Write run_issue_index.json, then age the backlog in the database and in its JSON mirror."""
    files = [
        read_phase_issue_file(path)
        for path in sorted((runs_dir / run_id).glob("phase_*_issues.json"))
    ]
    index = build_run_index(run_id, files)
    write_run_index(runs_dir, index)
    backlog = age_backlog(load_backlog(database, project_id), index, thresholds)
    save_backlog(database, project_id, backlog)
    write_backlog_file(runs_dir / BACKLOG_FILE, project_id, backlog)
    return index, backlog


def debt_paid(
    file: PhaseIssueFile, backlog: Sequence[BacklogEntry], keys: Sequence[str], run_id: str
) -> PhaseIssueFile:
    """A committed debt_cleanup phase marks the backlog issues it was made for as resolved.

    Recorded in the phase's own issue file, so the end-of-run aging settles them like any issue
    the run saw; an issue the Auditor raised again in the phase stays open.
    """
    open_keys = {issue.issue_key for issue in file.open_issues}
    for entry in backlog:
        if entry.issue_key not in keys or entry.issue_key in open_keys:
            continue
        file = add_issue(
            file,
            PhaseIssue(
                issue_key=entry.issue_key,
                severity=entry.severity,
                effective_severity=entry.effective_severity,
                source=entry.source,
                category=entry.category,
                first_seen_run=entry.first_seen_run,
                last_seen_run=run_id,
                issue_state=IssueState.RESOLVED,
                summary=f"paid off by debt_cleanup phase {file.phase_id}",
                paths=entry.paths,
            ),
        )
    return file
