"""What the ladder found, as the phase's issues: each rung's failures are majors that the attempt
that lands resolves; a weak acceptance check is a minor that stays open."""

from __future__ import annotations

from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import IssueSource, Severity
from autopack.verify.findings import flaky_issue, issue_key_of, verify_issues
from autopack.verify.ladder import LadderResult

# The issue's origin and category by the failure key's prefix; the category decides that the
# attempt that lands (having passed every rung) resolves it.
_KINDS: dict[str, tuple[IssueSource, str]] = {
    "syntax:": (IssueSource.STATIC_CHECK, "static_check"),
    "tests:": (IssueSource.STATIC_CHECK, "policy"),
    "acceptance:": (IssueSource.TEST, "test_failure"),
    "bugfix:": (IssueSource.TEST, "test_failure"),
    "test:": (IssueSource.TEST, "test_failure"),
    "ci:": (IssueSource.CI, "ci_failure"),
}


def ladder_issues(result: LadderResult, run_id: str) -> list[PhaseIssue]:
    if result.full is not None:
        # The full profile's failures and flaky tests, as the Verifier has always named them.
        issues = verify_issues(result.full, run_id, Severity.MAJOR)
        named = set(result.full.failures)
    else:
        issues, named = [], set()
    for key, sentence in result.failures.items():
        if key in named:
            continue
        source, category = next(
            (kind for prefix, kind in _KINDS.items() if key.startswith(prefix)),
            (IssueSource.CI, "ci_failure"),
        )
        issues.append(
            PhaseIssue(
                issue_key=issue_key_of(key),
                severity=Severity.MAJOR,
                effective_severity=Severity.MAJOR,
                source=source,
                category=category,
                first_seen_run=run_id,
                last_seen_run=run_id,
                evidence_refs=(key,),
                summary=f"{key}: {sentence}"[:1000],
            )
        )
    issues += [flaky_issue(key, run_id) for key in result.flaky]
    for text in result.weak_acceptance:
        issues.append(
            PhaseIssue(
                issue_key=issue_key_of(f"acceptance-weak:{text}"),
                severity=Severity.MINOR,
                effective_severity=Severity.MINOR,
                source=IssueSource.TEST,
                category="weak_acceptance",
                first_seen_run=run_id,
                last_seen_run=run_id,
                evidence_refs=(text,),
                summary=f"acceptance test {text} already passes at the base commit, so it does "
                "not show that this bugfix fixed anything",
            )
        )
    return issues
