"""The decision after each step of a Builder attempt (run/decide.py), case by case.

`decide` is a pure function of the attempt's outcomes so far and the frozen phase strategy, so
each rule of the attempt loop is tested here directly, without a run.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autopack.builder.base import Feedback, FeedbackKind, StopReason
from autopack.builder.progress import AttemptFingerprint, fingerprint
from autopack.domain.strategy import PhaseStrategy
from autopack.run.decide import Attempt, Decision, Next, decide
from autopack.run.outcomes import AuditStepOutcome, BuildOutcome, GateOutcome, VerifyOutcome
from autopack.testing.runs import phase_strategy

DIFF = "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
OTHER_DIFF = DIFF.replace("+x = 2", "+x = 3")
BASE = phase_strategy("Add login", description="Users log in with a password.")

APPLIED = GateOutcome(applied=True, message="applied")
PASSED = VerifyOutcome(passed=True, output="2 passed")
APPROVED = AuditStepOutcome(reason="security review", majors=0)


def strategy(
    *, attempts: int = 3, auto_apply: bool = True, high_risk: bool = False
) -> PhaseStrategy:
    return BASE.model_copy(
        update={"max_builder_attempts": attempts, "auto_apply": auto_apply, "high_risk": high_risk}
    )


PHASE = strategy(attempts=3)


def build(
    stop: StopReason = StopReason.FINISHED, *, diff: str = DIFF, detail: str = ""
) -> BuildOutcome:
    return BuildOutcome(
        attempt=1,
        stop_reason=stop,
        stop_detail=detail,
        diff=diff,
        changed_paths=("app.py",) if diff else (),
        summary="Set x to 2.",
        base_commit="0" * 40,
        tokens=1200,
        usd=Decimal("0.01"),
    )


def attempt(
    number: int = 1,
    built: BuildOutcome | None = None,
    gated: GateOutcome | None = None,
    verified: VerifyOutcome | None = None,
    audited: AuditStepOutcome | None = None,
    earlier: tuple[AttemptFingerprint, ...] = (),
) -> Attempt:
    return Attempt(
        number=number,
        built=built or build(),
        gated=gated,
        verified=verified,
        audited=audited,
        earlier=earlier,
    )


def run(the_attempt: Attempt, phase: PhaseStrategy = PHASE, *, ends_run: bool = False) -> Decision:
    return decide(the_attempt, phase, policy_violation_ends_run=ends_run)


def failing(*tests: str, output: str = "FAILED tests/test_app.py::test_x") -> VerifyOutcome:
    return VerifyOutcome(passed=False, failures=tests, output=output)


# --- the Builder's own stop ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "code"),
    [
        (StopReason.BUDGET, "budget.exhausted"),
        (StopReason.PROVIDER_UNAVAILABLE, "environment.provider"),
    ],
)
def test_budget_or_provider_stop_ends_the_run_before_any_gate(stop: StopReason, code: str) -> None:
    decision = run(attempt(built=build(stop, detail="the run's USD cap was reached")))

    assert decision.next is Next.END
    assert decision.failure is not None
    assert decision.failure.code == code
    assert decision.failure.message == "the run's USD cap was reached"
    assert decision.why == "the run's USD cap was reached"
    assert decision.feedback is None
    assert decision.reject is False


@pytest.mark.parametrize("stop", [StopReason.BUDGET, StopReason.PROVIDER_UNAVAILABLE])
def test_budget_or_provider_stop_ends_the_run_even_on_a_retryable_first_attempt(
    stop: StopReason,
) -> None:
    # Not a rejection to retry: the environment, not the attempt, failed.
    decision = run(attempt(1, build(stop, detail="x"), gated=APPLIED), strategy(attempts=5))

    assert decision.next is Next.END
    assert decision.reject is False


# --- the steps in order --------------------------------------------------------------------------


def test_a_fresh_build_asks_for_the_gate() -> None:
    assert run(attempt()) == Decision(Next.GATE)


@pytest.mark.parametrize(
    "stop", [StopReason.STEP_LIMIT, StopReason.WALL_CLOCK, StopReason.NO_PROGRESS]
)
def test_a_build_stopped_for_its_own_limits_still_goes_to_the_gate(stop: StopReason) -> None:
    assert run(attempt(built=build(stop, detail="limit"))).next is Next.GATE


def test_an_applied_gate_asks_for_verification() -> None:
    assert run(attempt(gated=APPLIED)) == Decision(Next.VERIFY)


def test_passed_checks_ask_for_the_audit() -> None:
    assert run(attempt(gated=APPLIED, verified=PASSED)) == Decision(Next.AUDIT)


# --- policy violations ---------------------------------------------------------------------------

VIOLATION = GateOutcome(
    applied=False, violation="touches .github/workflows/ci.yml", message="forbidden path"
)


def test_a_policy_violation_ends_the_run_when_the_ruleset_says_so() -> None:
    decision = run(attempt(1, gated=VIOLATION), ends_run=True)

    assert decision.next is Next.END
    assert decision.failure is not None
    assert decision.failure.code == "policy.violation"
    assert "phase p1 attempt 1 proposed a forbidden patch" in decision.failure.message
    assert "touches .github/workflows/ci.yml" in decision.failure.message
    assert decision.why == decision.failure.message


def test_a_policy_violation_on_the_last_attempt_ends_the_run_whatever_the_ruleset() -> None:
    decision = run(attempt(3, gated=VIOLATION), strategy(attempts=3), ends_run=False)

    assert decision.next is Next.END
    assert decision.failure is not None
    assert decision.failure.code == "policy.violation"
    assert "phase p1 attempt 3" in decision.failure.message


def test_a_policy_violation_before_the_last_attempt_is_retried_with_policy_feedback() -> None:
    decision = run(attempt(2, gated=VIOLATION), strategy(attempts=3), ends_run=False)

    assert decision.next is Next.RETRY
    assert decision.reject is True
    assert decision.at_gate is True
    assert decision.failure is None
    assert decision.feedback == Feedback(kind=FeedbackKind.POLICY, summary="forbidden path")
    assert decision.why == "forbidden path"


def test_a_repeated_policy_violation_stays_policy_feedback() -> None:
    # POLICY wins over NO_PROGRESS: the Builder must learn which rule it broke.
    empty = build(StopReason.NO_PROGRESS, diff="", detail="stuck")
    earlier = (fingerprint("", ()),)
    decision = run(attempt(1, empty, gated=VIOLATION, earlier=earlier))

    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.POLICY


# --- a gate that did not apply -------------------------------------------------------------------

NOT_APPLIED = GateOutcome(applied=False, message="the patch does not apply (conflicts in app.py)")


def test_a_patch_that_does_not_apply_is_retried_with_the_patch_diagnostic() -> None:
    decision = run(attempt(1, gated=NOT_APPLIED))

    assert decision.next is Next.RETRY
    assert decision.reject is True
    assert decision.at_gate is True
    assert decision.failure is None
    assert decision.feedback == Feedback(
        kind=FeedbackKind.PATCH_DIAGNOSTIC, summary=NOT_APPLIED.message
    )
    assert decision.why == NOT_APPLIED.message


@pytest.mark.parametrize("diff", ["", "  \n\t\n"])
def test_an_empty_diff_at_the_gate_is_retried_as_no_progress(diff: str) -> None:
    decision = run(attempt(1, build(diff=diff), gated=NOT_APPLIED))

    assert decision.next is Next.RETRY
    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.NO_PROGRESS


def test_a_builder_that_stopped_without_progress_is_retried_as_no_progress() -> None:
    built = build(StopReason.NO_PROGRESS, detail="repeated_action: the same edit 3 times")
    decision = run(attempt(1, built, gated=NOT_APPLIED))

    assert decision.next is Next.RETRY
    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.NO_PROGRESS


def test_a_gate_failure_repeating_an_earlier_attempt_is_retried_as_no_progress() -> None:
    earlier = (fingerprint(OTHER_DIFF, ("tests/test_a.py",)), fingerprint(DIFF, ()))
    decision = run(attempt(3, gated=NOT_APPLIED, earlier=earlier), strategy(attempts=4))

    assert decision.next is Next.RETRY
    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.NO_PROGRESS


def test_a_gate_failure_with_a_new_diff_is_not_no_progress() -> None:
    earlier = (fingerprint(OTHER_DIFF, ()),)
    decision = run(attempt(2, gated=NOT_APPLIED, earlier=earlier))

    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.PATCH_DIAGNOSTIC


def test_the_builders_stop_reason_appears_in_the_why_when_it_did_not_finish() -> None:
    built = build(StopReason.STEP_LIMIT, detail="60 steps")
    decision = run(attempt(1, built, gated=NOT_APPLIED))

    expected = f"{NOT_APPLIED.message} (the Builder stopped: step_limit: 60 steps)"
    assert decision.why == expected
    assert decision.feedback is not None
    assert decision.feedback.summary == expected
    assert decision.feedback.kind is FeedbackKind.PATCH_DIAGNOSTIC


def test_a_finished_builder_adds_no_stop_reason_to_the_why() -> None:
    decision = run(attempt(1, build(StopReason.FINISHED, detail="done"), gated=NOT_APPLIED))

    assert decision.why == NOT_APPLIED.message
    assert "the Builder stopped" not in decision.why


# --- failed checks -------------------------------------------------------------------------------


def test_failed_checks_are_retried_with_test_failure_feedback_carrying_the_output() -> None:
    verified = failing("tests/test_app.py::test_x", "ruff", output="E   assert 2 == 1")
    decision = run(attempt(1, gated=APPLIED, verified=verified))

    assert decision.next is Next.RETRY
    assert decision.reject is True
    assert decision.at_gate is False
    assert decision.failure is None
    assert decision.feedback == Feedback(
        kind=FeedbackKind.TEST_FAILURE,
        summary="checks failed: tests/test_app.py::test_x, ruff",
        detail="E   assert 2 == 1",
    )
    assert decision.why == "checks failed: tests/test_app.py::test_x, ruff"


def test_the_failure_summary_names_at_most_ten_checks() -> None:
    verified = failing(*(f"t{i}" for i in range(15)))
    decision = run(attempt(1, gated=APPLIED, verified=verified))

    assert decision.why == "checks failed: " + ", ".join(f"t{i}" for i in range(10))


def test_the_same_diff_failing_the_same_checks_again_is_no_progress_named_in_the_summary() -> None:
    earlier = (fingerprint(DIFF, ("ruff", "tests/test_app.py::test_x")),)
    # The same failures in another order are the same fingerprint.
    verified = failing("tests/test_app.py::test_x", "ruff", output="E   assert 2 == 1")
    decision = run(attempt(2, gated=APPLIED, verified=verified, earlier=earlier))

    assert decision.next is Next.RETRY
    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.NO_PROGRESS
    assert decision.feedback.detail == "E   assert 2 == 1"
    assert decision.feedback.summary.startswith("checks failed: tests/test_app.py::test_x, ruff (")
    assert "the same diff and the same 2 failing checks as attempt 1" in decision.feedback.summary
    assert decision.why == decision.feedback.summary


@pytest.mark.parametrize(
    "earlier",
    [
        (fingerprint(OTHER_DIFF, ("tests/test_app.py::test_x",)),),  # another diff
        (fingerprint(DIFF, ("tests/test_app.py::test_y",)),),  # other failures
        (fingerprint(DIFF, ()),),  # the same diff, which earlier did not apply
    ],
)
def test_failed_checks_differing_from_every_earlier_attempt_are_test_failures(
    earlier: tuple[AttemptFingerprint, ...],
) -> None:
    verified = failing("tests/test_app.py::test_x")
    decision = run(attempt(2, gated=APPLIED, verified=verified, earlier=earlier))

    assert decision.feedback is not None
    assert decision.feedback.kind is FeedbackKind.TEST_FAILURE
    assert "as attempt" not in decision.feedback.summary


# --- the last attempt ----------------------------------------------------------------------------

MAJOR = AuditStepOutcome(
    reason="security review",
    majors=2,
    findings=("[major] empty passwords log in", "[major] token never expires"),
    keys=("auth-empty-password", "auth-token-expiry"),
)


@pytest.mark.parametrize(
    ("gated", "verified", "audited", "kind", "at_gate"),
    [
        (NOT_APPLIED, None, None, FeedbackKind.PATCH_DIAGNOSTIC, True),
        (APPLIED, failing("tests/test_app.py::test_x"), None, FeedbackKind.TEST_FAILURE, False),
        (APPLIED, PASSED, MAJOR, FeedbackKind.AUDITOR_FINDING, False),
    ],
    ids=["gate", "checks", "auditor"],
)
def test_any_rejection_on_the_last_attempt_ends_the_phase_keeping_the_feedback(
    gated: GateOutcome,
    verified: VerifyOutcome | None,
    audited: AuditStepOutcome | None,
    kind: FeedbackKind,
    at_gate: bool,
) -> None:
    decision = run(
        attempt(2, gated=gated, verified=verified, audited=audited), strategy(attempts=2)
    )

    assert decision.next is Next.END
    assert decision.reject is True
    assert decision.at_gate is at_gate
    assert decision.feedback is not None
    assert decision.feedback.kind is kind
    assert decision.failure is not None
    assert decision.failure.code == "review.phase_failed"
    assert decision.failure.message == (
        f"phase p1 did not pass in 2 attempt(s): {decision.feedback.summary}"
    )
    assert decision.why == decision.feedback.summary


def test_a_single_attempt_phase_ends_on_its_first_rejection() -> None:
    decision = run(attempt(1, gated=NOT_APPLIED), strategy(attempts=1))

    assert decision.next is Next.END
    assert decision.failure is not None
    assert decision.failure.code == "review.phase_failed"
    assert "did not pass in 1 attempt(s)" in decision.failure.message


def test_the_attempt_before_the_last_is_still_retried() -> None:
    decision = run(attempt(2, gated=NOT_APPLIED), strategy(attempts=3))

    assert decision.next is Next.RETRY
    assert decision.failure is None


def test_the_failure_message_is_capped_at_a_thousand_characters() -> None:
    long = GateOutcome(applied=False, message="x" * 5000)
    decision = run(attempt(1, gated=long), strategy(attempts=1))

    assert decision.failure is not None
    assert len(decision.failure.message) == 1000
    assert decision.feedback is not None
    assert decision.feedback.summary == "x" * 5000  # the Builder's feedback is not cut


# --- the Auditor ---------------------------------------------------------------------------------


def test_an_auditor_major_is_retried_with_the_findings_as_feedback() -> None:
    decision = run(attempt(1, gated=APPLIED, verified=PASSED, audited=MAJOR))

    assert decision.next is Next.RETRY
    assert decision.reject is True
    assert decision.at_gate is False
    assert decision.feedback == Feedback(
        kind=FeedbackKind.AUDITOR_FINDING,
        summary="the Auditor found 2 major issue(s)",
        detail="[major] empty passwords log in\n[major] token never expires",
    )


@pytest.mark.parametrize("auto_apply", [True, False])
def test_an_auditor_major_on_the_last_attempt_ends_the_run_and_never_commits(
    auto_apply: bool,
) -> None:
    phase = strategy(attempts=1, auto_apply=auto_apply, high_risk=not auto_apply)
    decision = run(attempt(1, gated=APPLIED, verified=PASSED, audited=MAJOR), phase)

    assert decision.next is Next.END
    assert decision.failure is not None
    assert decision.failure.code == "review.phase_failed"
    assert "the Auditor found 2 major issue(s)" in decision.failure.message
    assert decision.feedback is not None
    assert "[major] empty passwords log in" in decision.feedback.detail


# --- commit and approval -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audited",
    [
        AuditStepOutcome(),  # the Auditor did not run
        AuditStepOutcome(reason="security review", error="malformed report"),
        AuditStepOutcome(reason="security review", findings=("[minor] naming",)),
    ],
    ids=["not-run", "error", "minor-only"],
)
def test_an_auto_apply_phase_commits_without_approval(audited: AuditStepOutcome) -> None:
    decision = run(attempt(1, gated=APPLIED, verified=PASSED, audited=audited))

    assert decision == Decision(Next.COMMIT, needs_approval=False)


def test_a_high_risk_phase_the_auditor_approved_commits_without_approval() -> None:
    phase = strategy(auto_apply=False, high_risk=True)
    decision = run(attempt(1, gated=APPLIED, verified=PASSED, audited=APPROVED), phase)

    assert decision == Decision(Next.COMMIT, needs_approval=False)


@pytest.mark.parametrize(
    "audited",
    [
        AuditStepOutcome(),  # no Auditor ran for the phase
        AuditStepOutcome(reason="security review", error="the report did not validate"),
    ],
    ids=["auditor-did-not-run", "no-valid-report"],
)
def test_a_high_risk_phase_the_auditor_did_not_approve_commits_pending_approval(
    audited: AuditStepOutcome,
) -> None:
    phase = strategy(auto_apply=False, high_risk=True)
    decision = run(attempt(1, gated=APPLIED, verified=PASSED, audited=audited), phase)

    assert decision.next is Next.COMMIT
    assert decision.needs_approval is True
    assert decision.failure is None
    assert decision.reject is False


def test_a_passing_attempt_commits_on_the_last_attempt_too() -> None:
    decision = run(attempt(3, gated=APPLIED, verified=PASSED, audited=APPROVED))

    assert decision == Decision(Next.COMMIT, needs_approval=False)


# --- properties over every combination -----------------------------------------------------------

# Weighted so that every decision, COMMIT included, is drawn often.
stops = st.sampled_from([StopReason.FINISHED] * 6 + list(StopReason))
diffs = st.sampled_from([DIFF, OTHER_DIFF, "", "\n"])
gates = st.builds(
    GateOutcome,
    applied=st.sampled_from([True, True, False]),
    violation=st.sampled_from([None, None, None, "touches .github/"]),
    message=st.sampled_from(["", "applied", "conflicts in app.py"]),
)
failure_names = st.lists(st.sampled_from(["t1", "t2", "ruff"]), max_size=3, unique=True).map(tuple)
verifies = st.builds(
    VerifyOutcome,
    passed=st.sampled_from([True, True, False]),
    failures=failure_names,
    output=st.just("out"),
)
audits = st.builds(
    AuditStepOutcome,
    reason=st.none() | st.just("security review"),
    majors=st.sampled_from([0, 0, 0, 1, 3]),
    findings=st.lists(st.just("[major] x"), max_size=2).map(tuple),
    error=st.sampled_from([None, None, "malformed"]),
)
fingerprints = st.lists(st.builds(fingerprint, diffs, failure_names), max_size=3).map(tuple)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Attempt, PhaseStrategy, bool]:
    """Any attempt after any number of its steps, any phase, either ruleset setting."""
    attempts = draw(st.integers(min_value=1, max_value=4))
    phase = strategy(attempts=attempts, auto_apply=draw(st.booleans()))
    ran = draw(st.sampled_from([0, 1, 2, 3, 3, 3]))  # how many of gate, verify, audit ran
    the_attempt = Attempt(
        number=draw(st.integers(min_value=1, max_value=attempts)),
        built=build(draw(stops), diff=draw(diffs), detail="detail"),
        gated=draw(gates) if ran >= 1 else None,
        verified=draw(verifies) if ran >= 2 else None,
        audited=draw(audits) if ran >= 3 else None,
        earlier=draw(fingerprints),
    )
    return the_attempt, phase, draw(st.booleans())


def situation(
    number: int,
    gated: GateOutcome | None,
    verified: VerifyOutcome | None,
    audited: AuditStepOutcome | None,
    *,
    auto_apply: bool = True,
) -> tuple[Attempt, PhaseStrategy, bool]:
    phase = strategy(attempts=2, auto_apply=auto_apply)
    return attempt(number, gated=gated, verified=verified, audited=audited), phase, False


# The combinations each rule is about, always tried besides the drawn ones.
CORNERS = [
    situation(2, APPLIED, PASSED, MAJOR),
    situation(1, APPLIED, PASSED, MAJOR),
    situation(2, APPLIED, failing("t1"), APPROVED),
    situation(1, NOT_APPLIED, PASSED, APPROVED),
    situation(2, VIOLATION, None, None),
    situation(1, APPLIED, PASSED, AuditStepOutcome(), auto_apply=False),
    situation(1, APPLIED, PASSED, APPROVED, auto_apply=False),
]


def with_corners(test: Callable[..., None]) -> Callable[..., None]:
    for corner in CORNERS:
        test = example(situation=corner)(test)
    return test


@with_corners
@settings(max_examples=300)
@given(situations())
def test_decide_never_commits_a_rejected_attempt_nor_retries_the_last(
    situation: tuple[Attempt, PhaseStrategy, bool],
) -> None:
    the_attempt, phase, ends_run = situation
    decision = decide(the_attempt, phase, policy_violation_ends_run=ends_run)
    gated, verified, audited = the_attempt.gated, the_attempt.verified, the_attempt.audited

    if decision.next is Next.COMMIT:
        assert gated is not None
        assert gated.applied
        assert verified is not None
        assert verified.passed
        assert audited is not None
        assert audited.majors == 0
        approved = audited.reason is not None and audited.error is None
        assert decision.needs_approval is not (phase.auto_apply or approved)
        assert the_attempt.built.stop_reason not in (
            StopReason.BUDGET,
            StopReason.PROVIDER_UNAVAILABLE,
        )
    else:
        assert decision.needs_approval is False
    if the_attempt.number == phase.max_builder_attempts:
        assert decision.next is not Next.RETRY
    if decision.next is Next.RETRY:
        assert decision.feedback is not None
        assert decision.reject
    if decision.next is Next.END:
        assert decision.failure is not None
    if decision.reject:
        assert decision.next in (Next.RETRY, Next.END)
        assert decision.feedback is not None


@with_corners
@settings(max_examples=300)
@given(situations())
def test_decide_asks_for_exactly_the_first_step_that_has_not_run(
    situation: tuple[Attempt, PhaseStrategy, bool],
) -> None:
    the_attempt, phase, ends_run = situation
    decision = decide(the_attempt, phase, policy_violation_ends_run=ends_run)
    gated, verified, audited = the_attempt.gated, the_attempt.verified, the_attempt.audited

    if decision.next is Next.GATE:
        assert gated is None
    if decision.next is Next.VERIFY:
        assert gated is not None
        assert gated.applied
        assert verified is None
    if decision.next is Next.AUDIT:
        assert verified is not None
        assert verified.passed
        assert audited is None
    if decision.next in (Next.GATE, Next.VERIFY, Next.AUDIT):
        assert decision.reject is False
        assert decision.failure is None
        assert the_attempt.built.stop_reason not in (
            StopReason.BUDGET,
            StopReason.PROVIDER_UNAVAILABLE,
        )
