"""What follows each step of an attempt, as one pure function of what the attempt produced so far.

The workflow (run/workflow.py) only performs: it runs the step `decide` names, adds the step's
outcome to the attempt, and asks again, until the answer is to commit, to retry with feedback,
or to end the run with a reason. Every rule of the attempt loop is a line here (docs/governance.md
points at them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from autopack.builder.base import Feedback, FeedbackKind, StopReason
from autopack.builder.progress import AttemptFingerprint, fingerprint, repeated_attempt
from autopack.domain.states import FailureReason
from autopack.domain.strategy import PhaseStrategy
from autopack.run.outcomes import AuditStepOutcome, BuildOutcome, GateOutcome, VerifyOutcome


class Next(StrEnum):
    GATE = "gate"
    VERIFY = "verify"
    AUDIT = "audit"
    COMMIT = "commit"
    RETRY = "retry"
    END = "end"


STEPS = (Next.GATE, Next.VERIFY, Next.AUDIT)


@dataclass(frozen=True)
class Attempt:
    """One attempt's outcomes so far (None: the step has not run), and how earlier ones ended."""

    number: int
    built: BuildOutcome
    gated: GateOutcome | None = None
    verified: VerifyOutcome | None = None
    audited: AuditStepOutcome | None = None
    earlier: tuple[AttemptFingerprint, ...] = ()

    @property
    def fingerprint(self) -> AttemptFingerprint:
        return fingerprint(self.built.diff, self.verified.failures if self.verified else ())


@dataclass(frozen=True)
class Decision:
    next: Next
    why: str = ""
    # For the next attempt (RETRY); also kept when the last attempt is given up.
    feedback: Feedback | None = None
    # The attempt is rejected: the integration worktree is reset and the rejection recorded.
    reject: bool = False
    at_gate: bool = False
    # Why the run ends (END).
    failure: FailureReason | None = None
    # COMMIT of a phase with auto_apply = false that the Auditor did not approve: the commit
    # lands, but the run is not eligible for promotion until a person approves the phase.
    needs_approval: bool = False


def decide(attempt: Attempt, phase: PhaseStrategy, *, policy_violation_ends_run: bool) -> Decision:
    built, gated, verified, audited = (
        attempt.built,
        attempt.gated,
        attempt.verified,
        attempt.audited,
    )
    last = attempt.number >= phase.max_builder_attempts
    if built.stop_reason is StopReason.BUDGET:
        return _end("budget.exhausted", built.stop_detail)
    if built.stop_reason is StopReason.PROVIDER_UNAVAILABLE:
        return _end("environment.provider", built.stop_detail)
    if gated is None:
        return Decision(Next.GATE)
    if gated.violation is not None and (policy_violation_ends_run or last):
        return _end(
            "policy.violation",
            f"phase {phase.phase_id} attempt {attempt.number} proposed a forbidden patch: "
            f"{gated.violation}",
        )
    repeated = repeated_attempt(attempt.earlier, attempt.fingerprint)
    if not gated.applied:
        why = gated.message
        if built.stop_reason is not StopReason.FINISHED:
            why += f" (the Builder stopped: {built.stop_reason.value}: {built.stop_detail})"
        if gated.violation is not None:
            kind = FeedbackKind.POLICY
        elif built.stop_reason is StopReason.NO_PROGRESS or not built.diff.strip() or repeated:
            kind = FeedbackKind.NO_PROGRESS
        else:
            kind = FeedbackKind.PATCH_DIAGNOSTIC
        return _rejected(attempt, phase, last, Feedback(kind=kind, summary=why), at_gate=True)
    if verified is None:
        return Decision(Next.VERIFY)
    if not verified.passed:
        why = f"checks failed: {', '.join(verified.failures[:10])}"
        # The same diff failing the same checks again: the Builder is stuck, so the next attempt
        # gets the next stronger model, as after an attempt without progress.
        kind = FeedbackKind.NO_PROGRESS if repeated else FeedbackKind.TEST_FAILURE
        summary = f"{why} ({repeated})" if repeated else why
        feedback = Feedback(kind=kind, summary=summary, detail=verified.output)
        return _rejected(attempt, phase, last, feedback, at_gate=False)
    if audited is None:
        return Decision(Next.AUDIT)
    # A major finding never commits, not even on the last attempt: the phase then fails with the
    # finding in its incident pack (the run never waits for a person).
    if audited.majors:
        feedback = Feedback(
            kind=FeedbackKind.AUDITOR_FINDING,
            summary=f"the Auditor found {audited.majors} major issue(s)",
            detail="\n".join(audited.findings),
        )
        return _rejected(attempt, phase, last, feedback, at_gate=False)
    return Decision(Next.COMMIT, needs_approval=not phase.auto_apply and not audited.approves)


def _end(code: str, message: str) -> Decision:
    return Decision(Next.END, why=message, failure=FailureReason(code=code, message=message[:1000]))


def _rejected(
    attempt: Attempt, phase: PhaseStrategy, last: bool, feedback: Feedback, *, at_gate: bool
) -> Decision:
    if not last:
        return Decision(
            Next.RETRY, why=feedback.summary, feedback=feedback, reject=True, at_gate=at_gate
        )
    message = (
        f"phase {phase.phase_id} did not pass in {attempt.number} attempt(s): {feedback.summary}"
    )
    return Decision(
        Next.END,
        why=feedback.summary,
        feedback=feedback,
        reject=True,
        at_gate=at_gate,
        failure=FailureReason(code="review.phase_failed", message=message[:1000]),
    )
