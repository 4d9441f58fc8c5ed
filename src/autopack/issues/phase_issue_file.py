"""`.autonomous_runs/<run_id>/phase_<NN>_<phase_id>_issues.json`: the issues one phase raised."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, computed_field

from autopack.domain.issues import PhaseIssue, worse
from autopack.domain.vocabulary import IssueState, Severity
from autopack.issues.atomic_json import read_json_model, write_json_atomic


class PhaseIssueFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    tier_id: str
    phase_id: str
    position: int
    issues: tuple[PhaseIssue, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minor_count(self) -> int:
        return sum(1 for issue in self.open_issues if issue.effective_severity is Severity.MINOR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def major_count(self) -> int:
        return sum(1 for issue in self.open_issues if issue.effective_severity is Severity.MAJOR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def issue_state(self) -> IssueState:
        return IssueState.OPEN if self.open_issues else IssueState.RESOLVED

    @property
    def open_issues(self) -> tuple[PhaseIssue, ...]:
        return tuple(issue for issue in self.issues if issue.issue_state is IssueState.OPEN)


def phase_issue_path(runs_dir: Path, run_id: str, position: int, phase_id: str) -> Path:
    return runs_dir / run_id / f"phase_{position:02d}_{phase_id}_issues.json"


def phase_issue_file(
    runs_dir: Path, run_id: str, tier_id: str, phase_id: str, position: int
) -> PhaseIssueFile:
    """The issues a phase raised so far in a run: its file, or an empty one before the first."""
    path = phase_issue_path(runs_dir, run_id, position, phase_id)
    if path.exists():
        return read_phase_issue_file(path)
    return PhaseIssueFile(run_id=run_id, tier_id=tier_id, phase_id=phase_id, position=position)


def add_issue(file: PhaseIssueFile, issue: PhaseIssue) -> PhaseIssueFile:
    """The same key seen again in a phase counts as one issue seen more often, at its worst severity."""
    for index, known in enumerate(file.issues):
        if known.issue_key != issue.issue_key:
            continue
        merged = known.model_copy(
            update={
                "occurrence_count": known.occurrence_count + issue.occurrence_count,
                "last_seen_run": issue.last_seen_run,
                "severity": worse(known.severity, issue.severity),
                "effective_severity": worse(known.effective_severity, issue.effective_severity),
                "evidence_refs": tuple(dict.fromkeys((*known.evidence_refs, *issue.evidence_refs))),
                "paths": tuple(dict.fromkeys((*known.paths, *issue.paths))),
                "issue_state": issue.issue_state,
            }
        )
        return file.model_copy(
            update={"issues": (*file.issues[:index], merged, *file.issues[index + 1 :])}
        )
    return file.model_copy(update={"issues": (*file.issues, issue)})


def write_phase_issue_file(runs_dir: Path, file: PhaseIssueFile) -> Path:
    path = phase_issue_path(runs_dir, file.run_id, file.position, file.phase_id)
    write_json_atomic(path, file.model_dump(mode="json"))
    return path


def read_phase_issue_file(path: Path) -> PhaseIssueFile:
    return read_json_model(path, PhaseIssueFile, "phase issue file")
