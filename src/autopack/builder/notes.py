"""The Builder's notes of problems it saw but did not fix, as phase issues (source `builder`)."""

from __future__ import annotations

from collections.abc import Sequence

from autopack.builder.base import SuggestedIssue
from autopack.domain.issues import PhaseIssue, clean_key
from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import IssueSource, Severity


def builder_issues(
    suggested: Sequence[SuggestedIssue], phase: PhaseStrategy, run_id: str
) -> list[PhaseIssue]:
    """A severity the model spelt loosely is read as minor: only an explicit "major" is major."""
    issues = []
    for note in suggested:
        severity = Severity.MAJOR if note.severity.strip().lower() == "major" else Severity.MINOR
        issues.append(
            PhaseIssue(
                issue_key=clean_key(note.issue_key),
                severity=severity,
                effective_severity=severity,
                source=IssueSource.BUILDER,
                category="builder_note",
                task_category=phase.task_category,
                complexity=phase.complexity,
                first_seen_run=run_id,
                last_seen_run=run_id,
                summary=note.summary[:2000],
            )
        )
    return issues
