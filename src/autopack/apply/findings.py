"""A refused patch as an issue: always a major `policy` issue keyed by the rule and the path."""

from __future__ import annotations

import re

from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import IssueSource, Severity
from autopack.errors import PolicyViolation


def policy_issue(
    violation: PolicyViolation, run_id: str, source: IssueSource = IssueSource.BUILDER
) -> PhaseIssue:
    path_key = re.sub(r"[^a-z0-9_.:/-]+", "-", violation.path.lower()).strip("-") or "patch"
    return PhaseIssue(
        issue_key=f"policy:{violation.rule}:{path_key}"[:200],
        severity=Severity.MAJOR,
        effective_severity=Severity.MAJOR,
        source=source,
        category="policy",
        first_seen_run=run_id,
        last_seen_run=run_id,
        evidence_refs=(violation.rule,),
        summary=str(violation),
        paths=(violation.path,),
    )
