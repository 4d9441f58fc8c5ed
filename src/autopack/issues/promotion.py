"""Tier cleanliness and whether a finished run may be promoted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from autopack.domain.states import RunState
from autopack.domain.vocabulary import Approval, Cleanliness, Severity
from autopack.issues.phase_issue_file import PhaseIssueFile
from autopack.store.runs import RunRecord


class TierTolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    minor_issues_tolerated: int
    major_issues_tolerated: int


def distinct_open_counts(files: Iterable[PhaseIssueFile]) -> tuple[int, int]:
    """Open minors and majors counted once per issue key across phases, by the worst severity
    any phase gives the key: the same finding in two phases is one issue, not two."""
    worst: dict[str, Severity] = {}
    for file in files:
        for issue in file.open_issues:
            known = worst.get(issue.issue_key)
            if known is None or issue.effective_severity is Severity.MAJOR:
                worst[issue.issue_key] = issue.effective_severity
    majors = sum(1 for severity in worst.values() if severity is Severity.MAJOR)
    return len(worst) - majors, majors


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
    awaiting_approval: Sequence[str] = (),
) -> PromotionDecision:
    """`awaiting_approval`: committed phases with auto_apply = false that nobody has approved."""
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
    if awaiting_approval:
        reasons.append(
            f"phase(s) {', '.join(awaiting_approval)} await approval (autopack approve RUN PHASE)"
        )
    return PromotionDecision(eligible=not reasons, reasons=tuple(reasons))


def promotion_of(run: RunRecord) -> PromotionDecision:
    """Tiers whose cleanliness was never judged count as clean."""
    return promotion_eligibility(
        run.state,
        {tier.tier_id: tier.cleanliness or Cleanliness.CLEAN for tier in run.tiers},
        run.failure.code if run.failure else None,
        awaiting_approval=[
            phase.phase_id
            for tier in run.tiers
            for phase in tier.phases
            if phase.approval is Approval.PENDING
        ],
    )
