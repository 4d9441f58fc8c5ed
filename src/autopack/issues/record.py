"""The one way issues enter a phase's issue file: a locked read-merge-write, so no writer loses another's.

The run (verification, gate refusals, Builder notes, Auditor findings) and `POST .../issues` both
write through `record_issues`; the lock is an advisory `flock` on a file beside the phase's file,
which every process of one machine that shares the runs folder honours.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import IssueState
from autopack.issues.phase_issue_file import (
    PhaseIssueFile,
    add_issue,
    phase_issue_file,
    phase_issue_path,
    write_phase_issue_file,
)


class PhaseRef(Protocol):
    """What locates a phase's issue file (a PhaseStrategy is one)."""

    @property
    def tier_id(self) -> str: ...

    @property
    def phase_id(self) -> str: ...

    @property
    def position(self) -> int: ...


@dataclass(frozen=True)
class RecordedIssues:
    file: PhaseIssueFile
    raised: tuple[str, ...]  # keys new to the phase and to what the caller knew open elsewhere
    merged: tuple[str, ...]  # keys already open: counted again, not raised again


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def update_phase_issues(
    runs_dir: Path,
    run_id: str,
    phase: PhaseRef,
    change: Callable[[PhaseIssueFile], PhaseIssueFile],
) -> PhaseIssueFile:
    """Apply `change` to the phase's current file and write the result, holding the file's lock."""
    path = phase_issue_path(runs_dir, run_id, phase.position, phase.phase_id)
    with _locked(path):
        current = phase_issue_file(runs_dir, run_id, phase.tier_id, phase.phase_id, phase.position)
        changed = change(current)
        if changed != current:
            write_phase_issue_file(runs_dir, changed)
        return changed


def record_issues(
    runs_dir: Path,
    run_id: str,
    phase: PhaseRef,
    issues: Sequence[PhaseIssue],
    open_elsewhere: Iterable[str] = (),
) -> RecordedIssues:
    """Merge `issues` into the phase's file by issue_key (see `add_issue`).

    A key open in the phase or in `open_elsewhere` (the run's other phases, the backlog) is the same
    problem seen again: merged, not counted as raised.
    """
    elsewhere = set(open_elsewhere)
    raised: list[str] = []
    merged: list[str] = []

    def merge(file: PhaseIssueFile) -> PhaseIssueFile:
        known = elsewhere | {issue.issue_key for issue in file.open_issues}
        for issue in issues:
            (merged if issue.issue_key in known else raised).append(issue.issue_key)
            known.add(issue.issue_key)
            file = add_issue(file, issue)
        return file

    file = update_phase_issues(runs_dir, run_id, phase, merge)
    return RecordedIssues(file, tuple(raised), tuple(merged))


def resolve_issues(
    runs_dir: Path, run_id: str, phase: PhaseRef, keys: Iterable[str]
) -> PhaseIssueFile:
    """Mark the phase's open issues with these keys resolved (the landing attempt fixed them)."""
    wanted = set(keys)

    def resolve(file: PhaseIssueFile) -> PhaseIssueFile:
        issues = tuple(
            issue.model_copy(update={"issue_state": IssueState.RESOLVED})
            if issue.issue_key in wanted and issue.issue_state is IssueState.OPEN
            else issue
            for issue in file.issues
        )
        return file.model_copy(update={"issues": issues})

    return update_phase_issues(runs_dir, run_id, phase, resolve)
