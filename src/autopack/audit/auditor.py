"""The Auditor agent: reads a phase's diff, the Verifier's result and the code, returns findings.

It never crashes a run: output that does not fit the findings schema is sent back to the model to
correct, within the phase's auditor attempt cap; after that, or when the provider or the budget
fails, the outcome carries the error and the caller records it as an issue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic_ai import Agent, ToolOutput, UsageLimits
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from autopack.audit.findings import AuditReport, Finding
from autopack.audit.profiles import instructions_for
from autopack.domain.issues import PhaseIssue
from autopack.domain.strategy import PhaseStrategy
from autopack.llm.redact import Redactor

DEFAULT_CONFIDENCE_THRESHOLD = 80
MAX_DIFF_CHARS = 60_000
MAX_CODE_CHARS = 60_000


@dataclass(frozen=True)
class AuditRequest:
    phase: PhaseStrategy
    diff: str
    verify_summary: str = ""
    code: Mapping[str, str] = field(default_factory=dict)
    open_issues: Sequence[PhaseIssue] = ()


@dataclass(frozen=True)
class AuditOutcome:
    kept: tuple[Finding, ...] = ()
    below_threshold: tuple[Finding, ...] = ()
    summary: str = ""
    error: str | None = None
    usage: RunUsage = field(default_factory=RunUsage)


def _clipped(text: str, limit: int) -> str:
    return (
        text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit} characters cut]"
    )


def audit_message(request: AuditRequest) -> str:
    phase = request.phase
    parts = [
        f"# Phase {phase.phase_id}: {phase.title} ({phase.task_category.value}, "
        f"{phase.complexity.value})",
        phase.description.strip(),
    ]
    if phase.acceptance:
        parts += ["Acceptance criteria:", *(f"- {item}" for item in phase.acceptance)]
    parts += ["", "## The change", "```diff", _clipped(request.diff, MAX_DIFF_CHARS), "```"]
    if request.verify_summary:
        parts += ["", "## Verifier result", request.verify_summary.strip()]
    budget = MAX_CODE_CHARS
    if request.code:
        parts += ["", "## Code after the change"]
        for path, text in request.code.items():
            shown = _clipped(text, max(budget, 0))
            budget -= len(shown)
            parts += [f"### {path}", "```", shown, "```"]
    if request.open_issues:
        parts += [
            "",
            "## Open issues (report again, with the same key, each one the change still has; "
            "one you do not report is taken as fixed)",
        ]
        parts += [f"- {issue.issue_key}: {issue.summary}" for issue in request.open_issues]
    return "\n".join(parts)


class Auditor:
    def __init__(
        self,
        model: Model,
        *,
        confidence_threshold: int = DEFAULT_CONFIDENCE_THRESHOLD,
        redactor: Redactor | None = None,
        max_requests: int = 6,
    ):
        self.model = model
        self.confidence_threshold = confidence_threshold
        self.redactor = redactor or Redactor()
        self.max_requests = max_requests

    async def audit(self, request: AuditRequest) -> AuditOutcome:
        phase = request.phase
        agent: Agent[None, AuditReport] = Agent(
            output_type=ToolOutput(AuditReport, name="report", description="Report the findings."),
            instructions=instructions_for(phase.auditor_profile),
            # One attempt plus a correction per further allowed attempt.
            retries={"output": phase.max_auditor_attempts - 1, "tools": 0},
        )
        usage = RunUsage()
        try:
            result = await agent.run(
                self.redactor.text(audit_message(request)),
                model=self.model,
                usage=usage,
                usage_limits=UsageLimits(request_limit=self.max_requests),
            )
        except Exception as error:  # the run goes on; the caller turns this into an issue
            return AuditOutcome(
                error=self.redactor.text(f"{type(error).__name__}: {error}"), usage=usage
            )
        findings = _unique(result.output.findings)
        return AuditOutcome(
            kept=tuple(f for f in findings if f.confidence >= self.confidence_threshold),
            below_threshold=tuple(f for f in findings if f.confidence < self.confidence_threshold),
            summary=self.redactor.text(result.output.summary),
            usage=usage,
        )


def _unique(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per key: the surest of those the model repeated."""
    best: dict[str, Finding] = {}
    for finding in findings:
        known = best.get(finding.issue_key)
        if known is None or finding.confidence > known.confidence:
            best[finding.issue_key] = finding
    return list(best.values())
