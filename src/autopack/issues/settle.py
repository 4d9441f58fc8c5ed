"""At the end of a run: its phase files become the run index, and the run ages the project backlog."""

from __future__ import annotations

from pathlib import Path

from autopack.domain.issues import BacklogEntry
from autopack.issues.backlog_aging import (
    BACKLOG_FILE,
    AgingThresholds,
    age_backlog,
    write_backlog_file,
)
from autopack.issues.phase_issue_file import read_phase_issue_file
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
