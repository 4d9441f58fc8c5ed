"""How an attempt's outcome reads the phase's open issues: which majors call for a review, and
which issues the landing attempt fixed."""

from __future__ import annotations

from autopack.domain.vocabulary import IssueSource, Severity
from autopack.issues.phase_issue_file import PhaseIssueFile
from autopack.run.outcomes import AuditStepOutcome

_CHECK_SOURCES = frozenset({IssueSource.TEST, IssueSource.CI, IssueSource.STATIC_CHECK})
# Issues an attempt's checks or gate raised: the attempt that lands passed both, so it fixed them.
_FIXED_BY_PASSING = frozenset({"test_failure", "ci_failure", "static_check", "policy"})


def majors_calling_for_review(file: PhaseIssueFile) -> int:
    """Open majors that call for the Auditor. Failing checks already sent their attempt back
    (they count as failed attempts); these are the Auditor's, the gate's and the Builder's own."""
    return sum(
        1
        for issue in file.open_issues
        if issue.effective_severity is Severity.MAJOR and issue.source not in _CHECK_SOURCES
    )


def fixed_by_landing(file: PhaseIssueFile, audited: AuditStepOutcome) -> list[str]:
    """Keys the landing attempt fixed: every failure of earlier attempts' checks and gate, and,
    when the Auditor reviewed the landing attempt validly, the earlier findings it did not report
    again (it is shown the open issues and told to report those still present)."""
    reviewed = audited.reason is not None and audited.error is None
    return [
        issue.issue_key
        for issue in file.open_issues
        if issue.category in _FIXED_BY_PASSING
        or (
            reviewed and issue.source is IssueSource.AUDITOR and issue.issue_key not in audited.keys
        )
    ]
