"""Auditor findings and failures as phase issues (recorded through issues/record.py like any issue)."""

from __future__ import annotations

from autopack.audit.auditor import AuditOutcome
from autopack.audit.findings import Finding
from autopack.domain.issues import PhaseIssue
from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import IssueSource, Severity

AUDITOR_FAILED_KEY = "auditor:no-valid-report"


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


def audit_issues(outcome: AuditOutcome, phase: PhaseStrategy, run_id: str) -> list[PhaseIssue]:
    """The kept findings as issues; an Auditor that gave no valid report is itself a minor issue."""
    issues = []
    if outcome.error is not None:
        issues.append(
            PhaseIssue(
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
        )
    issues.extend(_issue(finding, phase, run_id) for finding in outcome.kept)
    return issues
