"""The Auditor: structured findings over the real SDK, thresholds, retries of malformed output, issues."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from autopack.audit.auditor import Auditor, AuditOutcome, AuditRequest, audit_message
from autopack.audit.issues import AUDITOR_FAILED_KEY, audit_issues
from autopack.audit.policy import audit_reason
from autopack.audit.profiles import RUBRICS
from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import (
    AuditorProfile,
    CIProfile,
    IssueSource,
    Severity,
    TaskCategory,
)
from autopack.issues.phase_issue_file import (
    PhaseIssueFile,
    phase_issue_path,
    read_phase_issue_file,
)
from autopack.issues.record import record_issues
from autopack.issues.run_issue_index import build_run_index
from autopack.llm.providers import build_model
from autopack.testing.fake_llm import Reply, ToolCall, alias_on, fake_llm_server
from autopack.testing.runs import phase_strategy

PHASE = phase_strategy("Add login", description="Users log in with a password.")
SECURITY_PHASE = phase_strategy("Rework auth tokens", category=TaskCategory.SECURITY_AUTH_CHANGE)
DIFF = "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


def finding(
    key: str, confidence: int = 90, severity: str = "major", **extra: Any
) -> dict[str, Any]:
    return {
        "issue_key": key,
        "severity": severity,
        "category": "security",
        "confidence": confidence,
        "file": "app.py",
        "line": 1,
        "evidence": "x = 2",
        "failure_scenario": "A login with an empty password succeeds.",
        "suggested_fix": "Reject empty passwords.",
        **extra,
    }


def report(*findings: dict[str, Any]) -> ModelResponse:
    return ModelResponse(
        parts=[ToolCallPart("report", {"summary": "Reviewed.", "findings": list(findings)})]
    )


def scripted(*responses: ModelResponse) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    seen: list[list[ModelMessage]] = []
    queue = list(responses)

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return FunctionModel(reply), seen


def audit(model: FunctionModel, request: AuditRequest | None = None) -> AuditOutcome:
    return asyncio.run(Auditor(model).audit(request or AuditRequest(phase=PHASE, diff=DIFF)))


def test_findings_below_the_confidence_threshold_are_dropped_and_keys_cleaned() -> None:
    model, _ = scripted(
        report(
            finding("Security: Empty Password", 95),
            finding("style:naming", 40, "minor"),
            finding("security:empty-password", 85),
        )
    )
    outcome = audit(model)
    assert outcome.error is None
    assert [f.issue_key for f in outcome.kept] == ["security:empty-password"]
    assert outcome.kept[0].confidence == 95  # the surest of the repeats
    assert [f.issue_key for f in outcome.below_threshold] == ["style:naming"]


def test_malformed_output_is_sent_back_and_corrected_within_the_cap() -> None:
    bad = ModelResponse(
        parts=[ToolCallPart("report", {"summary": "x", "findings": [{"issue_key": "a"}]})]
    )
    model, seen = scripted(bad, report(finding("security:empty-password")))
    outcome = audit(model)
    assert outcome.error is None
    assert len(seen) == 2
    assert [f.issue_key for f in outcome.kept] == ["security:empty-password"]


def test_output_still_malformed_after_the_cap_becomes_an_issue_not_a_crash(tmp_path: Path) -> None:
    model, seen = scripted(ModelResponse(parts=[TextPart("Looks fine to me!")]))
    outcome = audit(model)
    assert outcome.error is not None
    assert len(seen) == PHASE.max_auditor_attempts
    recorded = record_issues(tmp_path, "run-1", PHASE, audit_issues(outcome, PHASE, "run-1"))
    assert recorded.raised == (AUDITOR_FAILED_KEY,)
    assert recorded.file.issues[0].source is IssueSource.AUDITOR
    assert "no valid report" in recorded.file.issues[0].summary


def test_findings_land_as_issues_and_an_open_issue_is_merged_not_raised_again(
    tmp_path: Path,
) -> None:
    model, _ = scripted(
        report(finding("security:empty-password"), finding("tests:no-negative-case", 90, "minor"))
    )
    outcome = audit(model)
    already_open = PhaseIssue(
        issue_key="security:empty-password",
        severity=Severity.MINOR,
        effective_severity=Severity.MINOR,
        source=IssueSource.AUDITOR,
        category="security",
        first_seen_run="run-1",
        last_seen_run="run-1",
    )
    record_issues(tmp_path, "run-1", PHASE, [already_open])
    recorded = record_issues(tmp_path, "run-1", PHASE, audit_issues(outcome, PHASE, "run-1"))
    assert recorded.raised == ("tests:no-negative-case",)
    assert recorded.merged == ("security:empty-password",)
    by_key = {issue.issue_key: issue for issue in recorded.file.issues}
    assert len(by_key) == 2
    merged = by_key["security:empty-password"]
    assert merged.occurrence_count == 2
    assert merged.severity is Severity.MAJOR
    assert by_key["tests:no-negative-case"].paths == ("app.py",)
    assert recorded.file.major_count == 1
    assert recorded.file.minor_count == 1


def test_the_profile_sets_the_rubric_and_open_issues_reach_the_prompt() -> None:
    model, seen = scripted(report())
    open_issue = PhaseIssue(
        issue_key="security:token-reuse",
        severity=Severity.MAJOR,
        effective_severity=Severity.MAJOR,
        source=IssueSource.TEST,
        category="security",
        first_seen_run="run-0",
        last_seen_run="run-0",
        summary="tokens are reusable",
    )
    audit(model, AuditRequest(phase=SECURITY_PHASE, diff=DIFF, open_issues=(open_issue,)))
    first = seen[0][0]
    assert isinstance(first, ModelRequest)
    assert first.instructions is not None
    assert RUBRICS[AuditorProfile.SECURITY_REVIEW] in first.instructions
    assert "- security:token-reuse: tokens are reusable" in audit_message(
        AuditRequest(phase=SECURITY_PHASE, diff=DIFF, open_issues=(open_issue,))
    )


def test_when_the_auditor_runs() -> None:
    assert audit_reason(PHASE, major_issues_open=0, failed_attempts=0) is None
    assert audit_reason(SECURITY_PHASE, major_issues_open=0, failed_attempts=0) == (
        "high-risk category security_auth_change"
    )
    strict = PHASE.model_copy(update={"ci_profile": CIProfile.STRICT})
    assert audit_reason(strict, major_issues_open=0, failed_attempts=0) == "strict CI profile"
    assert audit_reason(PHASE, major_issues_open=1, failed_attempts=0) is not None
    assert audit_reason(PHASE, major_issues_open=0, failed_attempts=1) is None
    assert (
        audit_reason(PHASE, major_issues_open=0, failed_attempts=2) == "2 failed Builder attempts"
    )


@pytest.mark.parametrize("alias_name", ["openai-standard", "anthropic-standard"])
def test_findings_over_the_real_sdk(alias_name: str) -> None:
    script = [
        Reply(
            tool_calls=(
                ToolCall(
                    name="report",
                    arguments={
                        "summary": "One problem.",
                        "findings": [finding("Security:Empty Password")],
                    },
                ),
            ),
            input_tokens=1200,
            output_tokens=150,
        )
    ]
    with fake_llm_server(script) as server:
        model = build_model(alias_name, alias_on(server, alias_name), "test-key")
        outcome = asyncio.run(Auditor(model).audit(AuditRequest(phase=PHASE, diff=DIFF)))
    assert outcome.error is None, outcome.error
    assert [f.issue_key for f in outcome.kept] == ["security:empty-password"]
    assert outcome.usage.input_tokens == 1200
    assert len(server.bills) == 1


def test_the_same_finding_in_two_phases_is_one_issue_in_the_run_index(tmp_path: Path) -> None:
    model, _ = scripted(report(finding("security:empty-password")))
    outcome = audit(model)
    files: list[PhaseIssueFile] = []
    for position, phase_id in enumerate(("p1", "p2"), 1):
        phase = PHASE.model_copy(update={"phase_id": phase_id, "position": position})
        recorded = record_issues(
            tmp_path,
            "run-1",
            phase,
            audit_issues(outcome, phase, "run-1"),
            open_elsewhere=[issue.issue_key for file in files for issue in file.open_issues],
        )
        files.append(read_phase_issue_file(phase_issue_path(tmp_path, "run-1", position, phase_id)))
        assert recorded.merged == (() if position == 1 else ("security:empty-password",))
    index = build_run_index("run-1", files)
    [entry] = index.entries
    assert entry.issue_key == "security:empty-password"
    assert entry.phases == ("p1", "p2")
    assert entry.occurrence_count == 2
    assert index.major_count == 1
