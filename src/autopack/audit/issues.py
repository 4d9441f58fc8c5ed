"""Auditor findings and failures as phase issues: an open issue seen again is merged, not re-raised."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autopack.audit.auditor import AuditOutcome
from autopack.audit.findings import Finding
from autopack.domain.issues import PhaseIssue
from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import IssueSource, Severity
from autopack.issues.phase_issue_file import PhaseIssueFile, add_issue

AUDITOR_FAILED_KEY = "auditor:no-valid-report"


@dataclass(frozen=True)
class RecordedAudit:
    file: PhaseIssueFile
    raised: tuple[str, ...]  # keys new to the phase and the run
    merged: tuple[str, ...]  # keys that were already open: counted again, not raised again


def _issue(finding: Finding, phase: PhaseStrategy, run_id: str) -> PhaseIssue:
    severity = Severity(finding.severity)
    where = f"{finding.file}:{finding.line}" if finding.file and finding.line else finding.file
    summary = f"{finding.failure_scenario} Fix: {finding.suggested_fix}".strip()
    return PhaseIssue(
        issue_key=finding.issue_key,
        severity=severity,
        effective_severity=severity,
        source=IssueSource.AUDITOR,
        category=finding.category,
        task_category=phase.task_category,
        complexity=phase.complexity,
        first_seen_run=run_id,
        last_seen_run=run_id,
        evidence_refs=tuple(filter(None, (where, finding.evidence[:500]))),
        summary=summary[:2000],
        paths=(finding.file,) if finding.file else (),
    )


def record_audit(
    file: PhaseIssueFile,
    outcome: AuditOutcome,
    phase: PhaseStrategy,
    run_id: str,
    open_elsewhere: Sequence[PhaseIssue] = (),
) -> RecordedAudit:
    """Add the kept findings to the phase's issue file; an Auditor that failed is itself an issue.

    `open_elsewhere` are the run's and backlog's open issues: a finding with one of their keys is
    the same problem seen again, so it is merged under that key rather than counted as new.
    """
    known = {issue.issue_key for issue in (*file.open_issues, *open_elsewhere)}
    raised: list[str] = []
    merged: list[str] = []
    if outcome.error is not None:
        failure = PhaseIssue(
            issue_key=AUDITOR_FAILED_KEY,
            severity=Severity.MINOR,
            effective_severity=Severity.MINOR,
            source=IssueSource.AUDITOR,
            category="auditor_failure",
            task_category=phase.task_category,
            first_seen_run=run_id,
            last_seen_run=run_id,
            summary=f"the Auditor gave no valid report: {outcome.error}"[:2000],
        )
        file = add_issue(file, failure)
        (merged if AUDITOR_FAILED_KEY in known else raised).append(AUDITOR_FAILED_KEY)
    for finding in outcome.kept:
        file = add_issue(file, _issue(finding, phase, run_id))
        (merged if finding.issue_key in known else raised).append(finding.issue_key)
    return RecordedAudit(file, tuple(raised), tuple(merged))
