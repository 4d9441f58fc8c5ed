"""When the Auditor runs (it costs a model call): the playbook's triggers, each with its reason."""

from __future__ import annotations

from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import CIProfile

REPEATED_FAILURES = 2


def audit_reason(
    phase: PhaseStrategy, *, major_issues_open: int, failed_attempts: int
) -> str | None:
    """Why this phase's attempt is audited, or None when the playbook does not call for it."""
    if phase.high_risk:
        return f"high-risk category {phase.task_category.value}"
    if phase.ci_profile is CIProfile.STRICT:
        return "strict CI profile"
    if major_issues_open:
        return f"{major_issues_open} major issue(s) open in the phase"
    if failed_attempts >= REPEATED_FAILURES:
        return f"{failed_attempts} failed Builder attempts"
    return None
