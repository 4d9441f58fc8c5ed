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
    """A note's own "minor" or "major" stands; any other or none takes the phase's default
    severity, which the strategy makes major for the high-risk categories."""
    issues = []
    for note in suggested:
        given = (note.severity or "").strip().lower()
        severity = Severity(given) if given in ("minor", "major") else phase.default_severity
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
