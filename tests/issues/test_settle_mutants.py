"""End-of-run settling and debt payment, tested on a real SQLite database and real files; written
for mutation testing (bench/mutation.py), which found settle.py reached only through whole runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack.domain.issues import BacklogEntry, PhaseIssue
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.issues.atomic_json import read_json_model
from autopack.issues.backlog_aging import BACKLOG_FILE, AgingThresholds, BacklogFile
from autopack.issues.phase_issue_file import PhaseIssueFile, write_phase_issue_file
from autopack.issues.run_issue_index import RUN_INDEX_FILE, read_run_index
from autopack.issues.settle import debt_paid, settle_run_issues
from autopack.store.engine import Database, open_database
from autopack.store.issue_records import load_backlog


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Database]:
    opened = open_database(f"sqlite:///{tmp_path / 'autopack.db'}")
    try:
        yield opened
    finally:
        opened.close()


def issue(
    key: str,
    run_id: str,
    *,
    severity: Severity = Severity.MINOR,
    state: IssueState = IssueState.OPEN,
) -> PhaseIssue:
    return PhaseIssue(
        issue_key=key,
        severity=severity,
        effective_severity=severity,
        source=IssueSource.AUDITOR,
        category="review",
        first_seen_run=run_id,
        last_seen_run=run_id,
        issue_state=state,
        paths=(f"src/{key.split(':')[-1]}.py",),
    )


def phase_file(run_id: str, position: int, phase_id: str, *issues: PhaseIssue) -> PhaseIssueFile:
    return PhaseIssueFile(
        run_id=run_id, tier_id="1", phase_id=phase_id, position=position, issues=issues
    )


def test_settling_a_run_indexes_its_phase_files_and_ages_the_backlog_everywhere(
    tmp_path: Path, sqlite: Database
) -> None:
    runs = tmp_path / "runs"
    write_phase_issue_file(runs, phase_file("run-1", 1, "1.1", issue("style:a", "run-1")))
    write_phase_issue_file(
        runs,
        phase_file(
            "run-1",
            2,
            "1.2",
            issue("style:a", "run-1"),
            issue("bug:b", "run-1", severity=Severity.MAJOR),
        ),
    )
    # Files of another run are not this run's issues.
    write_phase_issue_file(runs, phase_file("run-0", 1, "1.1", issue("old:z", "run-0")))
    thresholds = AgingThresholds(runs=2, tiers=5)

    index, backlog = settle_run_issues(sqlite, runs, "demo", "run-1", thresholds)

    assert index.run_id == "run-1"
    assert {entry.issue_key: entry.phases for entry in index.entries} == {
        "style:a": ("1.1", "1.2"),
        "bug:b": ("1.2",),
    }
    assert read_run_index(runs / "run-1" / RUN_INDEX_FILE) == index
    assert [entry.issue_key for entry in backlog] == ["bug:b", "style:a"]
    assert load_backlog(sqlite, "demo") == backlog
    mirror = read_json_model(runs / BACKLOG_FILE, BacklogFile, "project issue backlog")
    assert (mirror.project_id, list(mirror.issues)) == ("demo", backlog)

    # The thresholds given are the ones applied: a second run makes the minor effectively major.
    write_phase_issue_file(runs, phase_file("run-2", 1, "1.1", issue("style:a", "run-2")))
    _, backlog = settle_run_issues(sqlite, runs, "demo", "run-2", thresholds)
    aged = {entry.issue_key: entry for entry in backlog}["style:a"]
    assert (aged.age_in_runs, aged.effective_severity) == (2, Severity.MAJOR)
    assert load_backlog(sqlite, "demo") == backlog


def backlog_entry(key: str) -> BacklogEntry:
    return BacklogEntry(
        issue_key=key,
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=3,
        first_seen_run="run-1",
        last_seen_run="run-3",
        paths=("src/x.py",),
    )


def test_a_debt_phase_resolves_the_backlog_issues_it_was_made_for() -> None:
    file = phase_file("run-4", 1, "debt-cleanup")
    backlog = [backlog_entry("lint:a"), backlog_entry("lint:b"), backlog_entry("lint:c")]

    paid = debt_paid(file, backlog, ["lint:a", "lint:b"], "run-4")

    assert [issue.issue_key for issue in paid.issues] == ["lint:a", "lint:b"]
    first = paid.issues[0]
    assert first == PhaseIssue(
        issue_key="lint:a",
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        source=IssueSource.STATIC_CHECK,
        category="lint",
        first_seen_run="run-1",
        last_seen_run="run-4",
        issue_state=IssueState.RESOLVED,
        summary="paid off by debt_cleanup phase debt-cleanup",
        paths=("src/x.py",),
    )


def test_an_issue_the_debt_phase_raised_again_stays_open() -> None:
    file = phase_file("run-4", 1, "debt-cleanup", issue("lint:a", "run-4"))
    paid = debt_paid(
        file, [backlog_entry("lint:a"), backlog_entry("lint:b")], ["lint:a", "lint:b"], "run-4"
    )
    states = {issue.issue_key: issue.issue_state for issue in paid.issues}
    assert states == {"lint:a": IssueState.OPEN, "lint:b": IssueState.RESOLVED}
