"""Verifier results as issues with stable keys: `test:<id>`, `ci:<command>`, `flaky:<id>`."""

from __future__ import annotations

import re

from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import IssueSource, Severity
from autopack.verify.base import TestStatus
from autopack.verify.verifier import VerifyResult

_STATIC_CHECKS = ("lint", "typecheck", "types", "mypy", "ruff", "format", "vet", "clippy", "eslint")


def issue_key_of(raw: str) -> str:
    """Issue keys are lowercase and limited in alphabet and length; test ids are not."""
    cleaned = re.sub(r"[^a-z0-9_.:/-]+", "-", raw.lower()).strip("-")
    return cleaned[:200] or "unknown"


def verify_issues(result: VerifyResult, run_id: str, severity: Severity) -> list[PhaseIssue]:
    tests = {
        f"test:{t.test_id}": t
        for outcome in result.final
        for t in outcome.tests
        if t.status in (TestStatus.FAILED, TestStatus.ERROR)
    }
    commands = {f"ci:{outcome.name}": outcome for outcome in result.final}
    issues = []
    for failure in result.failures:
        test = tests.get(failure)
        if test is not None:
            issues.append(
                PhaseIssue(
                    issue_key=issue_key_of(failure),
                    severity=severity,
                    effective_severity=severity,
                    source=IssueSource.TEST,
                    category="test_failure",
                    first_seen_run=run_id,
                    last_seen_run=run_id,
                    evidence_refs=(test.test_id,),
                    summary=f"{test.test_id}: {test.message or test.output[-300:]}"[:1000],
                )
            )
            continue
        command = commands.get(failure)
        name = failure.removeprefix("ci:")
        static = any(word in name.lower() for word in _STATIC_CHECKS)
        excerpt = command.output_excerpt[-600:] if command else ""
        issues.append(
            PhaseIssue(
                issue_key=issue_key_of(failure),
                severity=severity,
                effective_severity=severity,
                source=IssueSource.STATIC_CHECK if static else IssueSource.CI,
                category="static_check" if static else "ci_failure",
                first_seen_run=run_id,
                last_seen_run=run_id,
                evidence_refs=(command.command,) if command else (),
                summary=f"{name} failed: {excerpt}"[:1000],
            )
        )
    issues += [flaky_issue(flaky, run_id) for flaky in result.flaky]
    return issues


def flaky_issue(failure: str, run_id: str) -> PhaseIssue:
    """A test (`test:<id>`) or command (`ci:<name>`) that failed and then passed on a rerun."""
    return PhaseIssue(
        issue_key=issue_key_of("flaky:" + failure.removeprefix("test:")),
        severity=Severity.MINOR,
        effective_severity=Severity.MINOR,
        source=IssueSource.TEST,
        category="flaky_test",
        first_seen_run=run_id,
        last_seen_run=run_id,
        evidence_refs=(failure,),
        summary=f"{failure} failed and then passed on a rerun",
    )
