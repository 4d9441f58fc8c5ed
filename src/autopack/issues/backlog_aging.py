"""The project backlog across runs: issues seen again grow older, and aged minors become majors.

Age counts what an issue actually lived through: `age_in_runs` is the number of runs it was seen
open in; `age_in_tiers` is the number of tiers of its latest run it survived (seen open in), since
an issue that outlives the next tier was not fixed where it should have been. Reaching either
threshold makes a minor an effective major. A key a run did not see is left as it was (the run may
simply not have looked there); a key a run reports resolved is resolved in the backlog.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from autopack.domain.issues import BacklogEntry, worse
from autopack.domain.vocabulary import IssueState, Severity
from autopack.issues.atomic_json import write_json_atomic
from autopack.issues.run_issue_index import RunIndexEntry, RunIssueIndex

BACKLOG_FILE = "project_issue_backlog.json"


class AgingThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int = 3
    tiers: int = 2


def effective_severity(
    severity: Severity, age_in_runs: int, age_in_tiers: int, thresholds: AgingThresholds
) -> Severity:
    """A minor at or past either threshold counts as a major; a major stays a major."""
    if severity is Severity.MAJOR:
        return Severity.MAJOR
    if age_in_runs >= thresholds.runs or age_in_tiers >= thresholds.tiers:
        return Severity.MAJOR
    return Severity.MINOR


def _aged(
    known: BacklogEntry | None, seen: RunIndexEntry, run_id: str, thresholds: AgingThresholds
) -> BacklogEntry:
    if seen.issue_state is IssueState.RESOLVED:
        if known is None:
            return BacklogEntry(
                issue_key=seen.issue_key,
                severity=seen.severity,
                effective_severity=seen.severity,
                category=seen.category,
                source=seen.source,
                age_in_runs=0,
                age_in_tiers=0,
                occurrence_count=seen.occurrence_count,
                first_seen_run=run_id,
                last_seen_run=run_id,
                issue_state=IssueState.RESOLVED,
                paths=seen.paths,
                summary=seen.summary,
            )
        return known.model_copy(
            update={"issue_state": IssueState.RESOLVED, "last_seen_run": run_id}
        )
    severity = seen.severity if known is None else worse(known.severity, seen.severity)
    runs = 1 if known is None else known.age_in_runs + 1
    tiers = len(seen.tiers)
    return BacklogEntry(
        issue_key=seen.issue_key,
        severity=severity,
        effective_severity=effective_severity(severity, runs, tiers, thresholds),
        category=seen.category,
        source=seen.source,
        age_in_runs=runs,
        age_in_tiers=tiers,
        occurrence_count=seen.occurrence_count + (0 if known is None else known.occurrence_count),
        first_seen_run=run_id if known is None else known.first_seen_run,
        last_seen_run=run_id,
        issue_state=IssueState.OPEN,
        paths=tuple(dict.fromkeys((*(known.paths if known else ()), *seen.paths))),
        summary=seen.summary or (known.summary if known else ""),
    )


def age_backlog(
    backlog: Sequence[BacklogEntry], index: RunIssueIndex, thresholds: AgingThresholds
) -> list[BacklogEntry]:
    """The backlog after one finished run, sorted by issue_key."""
    entries = {entry.issue_key: entry for entry in backlog}
    for seen in index.entries:
        entries[seen.issue_key] = _aged(entries.get(seen.issue_key), seen, index.run_id, thresholds)
    return [entries[key] for key in sorted(entries)]


class BacklogFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str
    issues: tuple[BacklogEntry, ...] = ()


def write_backlog_file(path: Path, project_id: str, backlog: Sequence[BacklogEntry]) -> None:
    write_json_atomic(
        path, BacklogFile(project_id=project_id, issues=tuple(backlog)).model_dump(mode="json")
    )
