"""A run's progress events as typed values, each with the one line people read for it.

The run emits these (RunServices.emit); they are stored as `kind` plus the other fields as JSON,
which is what the API's streams, `autopack run --json` and `autopack watch` show unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str

    def details(self) -> dict[str, Any]:
        """The stored payload: every field but the kind, as JSON values."""
        return self.model_dump(mode="json", exclude={"kind"})


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    phases: int

    def line(self) -> str:
        return f"{self.phases} phases"


class BaselineMeasured(_Event):
    kind: Literal["baseline"] = "baseline"
    failing: dict[str, int]

    def line(self) -> str:
        counts = ", ".join(f"{n} failing test(s) under {p}" for p, n in self.failing.items())
        return f"base commit: {counts} (pre-existing, not blamed on phases)"


class TierStarted(_Event):
    kind: Literal["tier_started"] = "tier_started"
    tier: str

    def line(self) -> str:
        return f"tier {self.tier}"


class PhaseStarted(_Event):
    kind: Literal["phase_started"] = "phase_started"
    tier: str
    phase: str
    title: str

    def line(self) -> str:
        return f"  phase {self.phase}: {self.title}"


class AttemptStep(_Event):
    kind: Literal["attempt"] = "attempt"
    phase: str
    attempt: int
    step: Literal["build", "gate", "verify", "audit"]
    model: str | None = None
    builder: str | None = None
    reason: str | None = None

    def line(self) -> str:
        return (
            f"    attempt {self.attempt}: {self.step}"
            + (f" ({self.reason})" if self.reason else "")
            + (f" with {self.model}" if self.model else "")
        )


class Built(_Event):
    kind: Literal["built"] = "built"
    phase: str
    attempt: int
    stop: str
    files: int
    tokens: int
    usd: str
    run_tokens: int
    run_usd: str
    budget_tokens: int
    budget_usd: str

    def line(self) -> str:
        return (
            f"    attempt {self.attempt}: Builder {self.stop}, {self.files} file(s), "
            f"{self.tokens:,} tokens, ${float(self.usd):.4f} (run: {self.run_tokens:,} of "
            f"{self.budget_tokens:,} tokens, ${float(self.run_usd):.4f} of "
            f"${float(self.budget_usd):.2f})"
        )


class Verified(_Event):
    kind: Literal["verified"] = "verified"
    phase: str
    attempt: int
    passed: bool
    failures: int
    pre_existing: int
    seconds: float
    # The verification ladder's rung that stopped the climb, and the bugfix evidence found.
    stopped_at: str | None = None
    fail_to_pass: int = 0

    def line(self) -> str:
        if self.passed:
            evidence = f" ({self.fail_to_pass} fail-to-pass)" if self.fail_to_pass else ""
            return f"    checks passed{evidence}"
        return "    checks FAILED" + (f" at {self.stopped_at}" if self.stopped_at else "")


class Audited(_Event):
    kind: Literal["audited"] = "audited"
    phase: str
    attempt: int
    findings: int
    majors: int

    def line(self) -> str:
        return f"    Auditor: {self.findings} finding(s), {self.majors} major"


class IssuesRecorded(_Event):
    kind: Literal["issues"] = "issues"
    phase: str
    raised: list[str]
    merged: list[str]

    def line(self) -> str:
        return (
            f"    issues: {len(self.raised)} raised"
            + (f" ({', '.join(self.raised[:5])})" if self.raised else "")
            + (f", {len(self.merged)} seen again" if self.merged else "")
        )


class Rejected(_Event):
    kind: Literal["rejected"] = "rejected"
    phase: str
    attempt: int
    why: str
    last: bool

    def line(self) -> str:
        return f"    rejected: {self.why}" + (" (no attempts left)" if self.last else "")


class Committed(_Event):
    kind: Literal["committed"] = "committed"
    phase: str
    attempt: int
    commit: str
    needs_approval: bool = False

    def line(self) -> str:
        return f"    committed {self.commit[:12]}" + (
            " (awaits approval before promotion)" if self.needs_approval else ""
        )


class TierFinished(_Event):
    kind: Literal["tier_finished"] = "tier_finished"
    tier: str
    cleanliness: str

    def line(self) -> str:
        return f"tier {self.tier} done: {self.cleanliness}"


class ModelEvent(_Event):
    """A retry, a fallback or an opened circuit breaker of the model layer."""

    kind: Literal["llm"] = "llm"
    what: str
    alias: str
    detail: str

    def line(self) -> str:
        return f"    model {self.alias}: {self.what} {self.detail}"


class IncidentWritten(_Event):
    kind: Literal["incident"] = "incident"
    phase: str | None
    folder: str

    def line(self) -> str:
        return f"    incident pack: {self.folder}"


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    state: str
    reason: str | None = None

    def line(self) -> str:
        return f"run ended {self.state}" + (f": {self.reason}" if self.reason else "")


ProgressEvent = Annotated[
    RunStarted
    | BaselineMeasured
    | TierStarted
    | PhaseStarted
    | AttemptStep
    | Built
    | Verified
    | Audited
    | IssuesRecorded
    | Rejected
    | Committed
    | TierFinished
    | ModelEvent
    | IncidentWritten
    | RunFinished,
    Field(discriminator="kind"),
]
_EVENTS: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)


def describe(message: dict[str, Any]) -> str | None:
    """A stored or streamed event as one line; None for kinds nobody needs to read (and for
    events written by another version that no longer parse)."""
    fields = {k: v for k, v in message.items() if k not in ("run_id", "id")}
    try:
        event = _EVENTS.validate_python(fields)
    except ValidationError:
        return None
    if isinstance(event, RunStarted):
        return f"run {message.get('run_id', '?')}: {event.line()}"
    line = event.line()
    phase = getattr(event, "phase", None)
    if phase is not None and line.startswith("    "):
        # Phases of a tier may be live at once: each line says whose it is.
        return f"    {phase} {line.lstrip()}"
    return line
