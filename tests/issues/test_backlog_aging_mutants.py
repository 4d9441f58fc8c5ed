"""Backlog aging edges that mutation testing (bench/mutation.py) found untested: keys first seen
resolved, resolutions of known keys, severities merged across runs, paths and summaries carried
over, and the backlog file's error naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.domain.issues import BacklogEntry
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.errors import IssueFileError
from autopack.issues.atomic_json import read_json_model
from autopack.issues.backlog_aging import AgingThresholds, BacklogFile, age_backlog
from autopack.issues.run_issue_index import RunIndexEntry, RunIssueIndex

DEFAULTS = AgingThresholds()


def seen(
    key: str,
    *,
    severity: Severity = Severity.MINOR,
    state: IssueState = IssueState.OPEN,
    paths: tuple[str, ...] = (),
    summary: str = "",
    occurrences: int = 1,
) -> RunIndexEntry:
    return RunIndexEntry(
        issue_key=key,
        severity=severity,
        effective_severity=severity,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        occurrence_count=occurrences,
        phases=("1.1",),
        tiers=("1",),
        paths=paths,
        issue_state=state,
        summary=summary,
    )


def after(backlog: list[BacklogEntry], run_id: str, *entries: RunIndexEntry) -> BacklogEntry:
    """The single entry of the backlog after one run."""
    (entry,) = age_backlog(backlog, RunIssueIndex(run_id=run_id, entries=entries), DEFAULTS)
    return entry


def test_a_key_first_reported_resolved_is_recorded_resolved_and_unaged() -> None:
    entry = after(
        [],
        "run-1",
        seen(
            "lint:e501",
            severity=Severity.MAJOR,
            state=IssueState.RESOLVED,
            paths=("src/a.py",),
            summary="line too long",
            occurrences=2,
        ),
    )
    assert entry == BacklogEntry(
        issue_key="lint:e501",
        severity=Severity.MAJOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=0,
        age_in_tiers=0,
        occurrence_count=2,
        first_seen_run="run-1",
        last_seen_run="run-1",
        issue_state=IssueState.RESOLVED,
        paths=("src/a.py",),
        summary="line too long",
    )


def test_resolving_a_known_key_records_the_run_that_resolved_it() -> None:
    known = after([], "run-1", seen("lint:e501"))
    resolved = after([known], "run-2", seen("lint:e501", state=IssueState.RESOLVED))
    assert resolved.issue_state is IssueState.RESOLVED
    assert (resolved.first_seen_run, resolved.last_seen_run) == ("run-1", "run-2")


def test_a_major_seen_again_as_a_minor_stays_major() -> None:
    known = after([], "run-1", seen("bug:x", severity=Severity.MAJOR))
    again = after([known], "run-2", seen("bug:x", severity=Severity.MINOR))
    assert (again.severity, again.effective_severity) == (Severity.MAJOR, Severity.MAJOR)


def test_a_minor_seen_again_as_a_major_becomes_major() -> None:
    known = after([], "run-1", seen("bug:x", severity=Severity.MINOR))
    again = after([known], "run-2", seen("bug:x", severity=Severity.MAJOR))
    assert (again.severity, again.effective_severity) == (Severity.MAJOR, Severity.MAJOR)


def test_a_major_is_effectively_major_from_its_first_run() -> None:
    entry = after([], "run-1", seen("bug:x", severity=Severity.MAJOR))
    assert entry.age_in_runs == 1
    assert entry.effective_severity is Severity.MAJOR


def test_a_key_seen_again_is_open_with_the_paths_of_every_sighting() -> None:
    known = after([], "run-1", seen("lint:x", paths=("src/a.py", "src/b.py")))
    again = after([known], "run-2", seen("lint:x", paths=("src/b.py", "src/c.py")))
    assert again.issue_state is IssueState.OPEN
    assert again.paths == ("src/a.py", "src/b.py", "src/c.py")


def test_the_latest_summary_wins_and_a_silent_sighting_keeps_the_old_one() -> None:
    first = after([], "run-1", seen("lint:x", summary="unused import os"))
    assert first.summary == "unused import os"
    silent = after([first], "run-2", seen("lint:x"))
    assert silent.summary == "unused import os"
    newer = after([silent], "run-3", seen("lint:x", summary="unused import sys"))
    assert newer.summary == "unused import sys"


def test_an_issue_without_a_summary_has_an_empty_one() -> None:
    assert after([], "run-1", seen("lint:x")).summary == ""


def test_a_missing_backlog_file_is_named_as_the_project_issue_backlog(tmp_path: Path) -> None:
    with pytest.raises(IssueFileError, match="no such project issue backlog"):
        read_json_model(
            tmp_path / "project_issue_backlog.json", BacklogFile, "project issue backlog"
        )
