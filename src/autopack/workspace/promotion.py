"""Promotion: a finished run's integration branch merged into a branch of the user's choosing,
only when the run is eligible; otherwise every reason it is not."""

from __future__ import annotations

from autopack.domain.vocabulary import Cleanliness
from autopack.errors import AutopackError
from autopack.issues.promotion import PromotionDecision, promotion_eligibility
from autopack.store.engine import Database
from autopack.store.runs import get_run
from autopack.workspace.base import GitAdapter


class PromotionRefused(AutopackError):
    exit_code = 7

    def __init__(self, run_id: str, decision: PromotionDecision):
        self.decision = decision
        reasons = "; ".join(decision.reasons)
        super().__init__(f"run {run_id} cannot be promoted: {reasons}")


def promote_run(
    database: Database, git: GitAdapter, run_id: str, into: str | None = None
) -> tuple[str, str]:
    """(target branch, its new head). Tiers whose cleanliness was never judged count as clean."""
    run = get_run(database, run_id)
    tiers = {tier.tier_id: tier.cleanliness or Cleanliness.CLEAN for tier in run.tiers}
    decision = promotion_eligibility(run.state, tiers, run.failure.code if run.failure else None)
    if not decision.eligible:
        raise PromotionRefused(run_id, decision)
    target = into or run.base_branch
    if target is None:
        raise AutopackError(f"run {run_id} recorded no starting branch; pass --into BRANCH")
    return target, git.promote(run_id, target)
