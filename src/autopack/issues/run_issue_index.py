"""`run_issue_index.json`: a run's issues de-duplicated by issue_key; counts are distinct keys."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, computed_field

from autopack.domain.issues import PhaseIssue, worse
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.issues.atomic_json import read_json_model, write_json_atomic
from autopack.issues.phase_issue_file import PhaseIssueFile

RUN_INDEX_FILE = "run_issue_index.json"


class RunIndexEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    issue_key: str
    severity: Severity
    effective_severity: Severity
    category: str
    source: IssueSource
    occurrence_count: int
    phases: tuple[str, ...]
    tiers: tuple[str, ...]
    paths: tuple[str, ...] = ()
    issue_state: IssueState = IssueState.OPEN
    summary: str = ""


class RunIssueIndex(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    entries: tuple[RunIndexEntry, ...] = ()

    def _count(self, severity: Severity) -> int:
        return sum(
            1
            for entry in self.entries
            if entry.issue_state is IssueState.OPEN and entry.effective_severity is severity
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minor_count(self) -> int:
        return self._count(Severity.MINOR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def major_count(self) -> int:
        return self._count(Severity.MAJOR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_count(self) -> int:
        return len(self.entries)

    def in_tier(self, tier_id: str) -> tuple[RunIndexEntry, ...]:
        return tuple(entry for entry in self.entries if tier_id in entry.tiers)


def _fold(
    entry: RunIndexEntry | None, issue: PhaseIssue, phase_id: str, tier_id: str
) -> RunIndexEntry:
    if entry is None:
        return RunIndexEntry(
            issue_key=issue.issue_key,
            severity=issue.severity,
            effective_severity=issue.effective_severity,
            category=issue.category,
            source=issue.source,
            occurrence_count=issue.occurrence_count,
            phases=(phase_id,),
            tiers=(tier_id,),
            paths=issue.paths,
            issue_state=issue.issue_state,
            summary=issue.summary,
        )
    return entry.model_copy(
        update={
            "severity": worse(entry.severity, issue.severity),
            "effective_severity": worse(entry.effective_severity, issue.effective_severity),
            "occurrence_count": entry.occurrence_count + issue.occurrence_count,
            "phases": tuple(dict.fromkeys((*entry.phases, phase_id))),
            "tiers": tuple(dict.fromkeys((*entry.tiers, tier_id))),
            "paths": tuple(dict.fromkeys((*entry.paths, *issue.paths))),
            # Open anywhere in the run means open for the run.
            "issue_state": IssueState.OPEN
            if IssueState.OPEN in (entry.issue_state, issue.issue_state)
            else IssueState.RESOLVED,
        }
    )


def build_run_index(run_id: str, files: Iterable[PhaseIssueFile]) -> RunIssueIndex:
    entries: dict[str, RunIndexEntry] = {}
    for file in sorted(files, key=lambda f: f.position):
        for issue in file.issues:
            entries[issue.issue_key] = _fold(
                entries.get(issue.issue_key), issue, file.phase_id, file.tier_id
            )
    return RunIssueIndex(run_id=run_id, entries=tuple(entries.values()))


def write_run_index(runs_dir: Path, index: RunIssueIndex) -> Path:
    path = runs_dir / index.run_id / RUN_INDEX_FILE
    write_json_atomic(path, index.model_dump(mode="json"))
    return path


def read_run_index(path: Path) -> RunIssueIndex:
    return read_json_model(path, RunIssueIndex, "run issue index")
