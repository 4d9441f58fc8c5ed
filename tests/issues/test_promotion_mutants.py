"""Promotion's reasons as `autopack status` and RUN_SUMMARY show them, and promotion_of reading a
stored run; written for mutation testing (bench/mutation.py), which found the sentences and the
stored-run reading untested."""

from __future__ import annotations

from datetime import UTC, datetime

from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.domain.vocabulary import (
    Approval,
    BuilderMode,
    Cleanliness,
    Complexity,
    RunScope,
    SafetyProfile,
    TaskCategory,
)
from autopack.issues.promotion import PromotionDecision, promotion_eligibility, promotion_of
from autopack.store.runs import PhaseRecord, RunRecord, TierRecord


def test_every_blocking_cause_is_given_in_full_and_in_order() -> None:
    decision = promotion_eligibility(
        RunState.DONE_FAILED_BUDGET_EXHAUSTED,
        {"2": Cleanliness.NOT_CLEAN, "1": Cleanliness.NOT_CLEAN, "3": Cleanliness.CLEAN},
        "budget.run",
        awaiting_approval=["1.2", "2.1"],
    )
    assert decision == PromotionDecision(
        eligible=False,
        reasons=(
            "the run ended in DONE_FAILED_BUDGET_EXHAUSTED, not DONE_SUCCESS",
            "tier(s) 1, 2 are not clean",
            "the run hit a budget cap",
            "phase(s) 1.2, 2.1 await approval (autopack approve RUN PHASE)",
        ),
    )


def phase(phase_id: str, approval: Approval | None) -> PhaseRecord:
    return PhaseRecord(
        phase_id=phase_id,
        tier_id=phase_id.split(".")[0],
        title=f"Phase {phase_id}",
        position=1,
        state=PhaseState.COMPLETE,
        task_category=TaskCategory.FEATURE,
        complexity=Complexity.MEDIUM,
        builder_mode=BuilderMode.SCAFFOLDING_HEAVY,
        attempts_used=1,
        approval=approval,
    )


def stored_run(
    state: RunState,
    tiers: list[TierRecord],
    failure: FailureReason | None = None,
) -> RunRecord:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return RunRecord(
        run_id="run-1",
        project_id="demo",
        plan_path=None,
        plan_title="Plan",
        safety_profile=SafetyProfile.NORMAL,
        run_scope=RunScope.MULTI_TIER,
        state=state,
        failure=failure,
        strategy_json="{}",
        base_branch="main",
        base_commit=None,
        sandbox=None,
        created_at=now,
        updated_at=now,
        ended_at=now,
        tiers=tiers,
    )


def tier(tier_id: str, cleanliness: Cleanliness | None, *phases: PhaseRecord) -> TierRecord:
    return TierRecord(
        tier_id=tier_id,
        name=f"Tier {tier_id}",
        position=int(tier_id),
        state=TierState.COMPLETE,
        cleanliness=cleanliness,
        phases=list(phases),
    )


def test_a_stored_successful_run_with_unjudged_and_clean_tiers_is_promotable() -> None:
    run = stored_run(
        RunState.DONE_SUCCESS,
        [
            tier("1", None, phase("1.1", None)),
            tier("2", Cleanliness.CLEAN, phase("2.1", Approval.APPROVED)),
        ],
    )
    assert promotion_of(run) == PromotionDecision(eligible=True)


def test_a_stored_run_names_its_dirty_tiers_and_its_unapproved_phases() -> None:
    run = stored_run(
        RunState.DONE_SUCCESS,
        [
            tier("1", Cleanliness.NOT_CLEAN, phase("1.1", Approval.PENDING)),
            tier("2", Cleanliness.CLEAN, phase("2.1", Approval.APPROVED), phase("2.2", None)),
        ],
    )
    assert promotion_of(run).reasons == (
        "tier(s) 1 are not clean",
        "phase(s) 1.1 await approval (autopack approve RUN PHASE)",
    )


def test_a_stored_run_that_failed_on_a_budget_code_says_so() -> None:
    run = stored_run(
        RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW,
        [tier("1", Cleanliness.CLEAN, phase("1.1", None))],
        FailureReason(code="budget.tier", message="the tier's budget is spent"),
    )
    assert promotion_of(run).reasons == (
        "the run ended in DONE_FAILED_REQUIRES_HUMAN_REVIEW, not DONE_SUCCESS",
        "the run hit a budget cap",
    )
