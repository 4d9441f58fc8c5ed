"""Tier cleanliness and whether a finished run may be promoted."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from autopack.domain.states import RunState
from autopack.domain.vocabulary import Cleanliness


class TierTolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    minor_issues_tolerated: int
    major_issues_tolerated: int


def tier_cleanliness(minor_count: int, major_count: int, tolerance: TierTolerance) -> Cleanliness:
    """Counts are distinct open issue keys of the tier, by effective severity."""
    if (
        minor_count > tolerance.minor_issues_tolerated
        or major_count > tolerance.major_issues_tolerated
    ):
        return Cleanliness.NOT_CLEAN
    return Cleanliness.CLEAN


class PromotionDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    eligible: bool
    reasons: tuple[str, ...] = ()


def promotion_eligibility(
    run_state: RunState,
    tiers: Mapping[str, Cleanliness],
    failure_code: str | None = None,
) -> PromotionDecision:
    reasons = []
    if run_state is not RunState.DONE_SUCCESS:
        reasons.append(f"the run ended in {run_state.value}, not DONE_SUCCESS")
    dirty = sorted(tier for tier, state in tiers.items() if state is Cleanliness.NOT_CLEAN)
    if dirty:
        reasons.append(f"tier(s) {', '.join(dirty)} are not clean")
    if run_state is RunState.DONE_FAILED_BUDGET_EXHAUSTED or (failure_code or "").startswith(
        "budget"
    ):
        reasons.append("the run hit a budget cap")
    return PromotionDecision(eligible=not reasons, reasons=tuple(reasons))
