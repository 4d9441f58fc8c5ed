"""Whether a run may be promoted, counting its chain: a part is based on the previous part's head,
so its branch carries every earlier part's commits, and promoting it promotes them too."""

from __future__ import annotations

from autopack.issues.promotion import PromotionDecision, promotion_of
from autopack.store.chains import chain_of
from autopack.store.engine import Database
from autopack.store.runs import RunRecord, get_run


def promotion_in_chain(database: Database, run: RunRecord) -> PromotionDecision:
    """The run's own decision, refused too while an earlier part of its chain is not eligible."""
    decision = promotion_of(run)
    chain = chain_of(database, run.run_id)
    if chain is None:
        return decision
    reasons = []
    for part in chain.parts[: chain.part - 1]:
        assert part.run_id is not None  # a later part exists only once the earlier ones ran
        earlier = promotion_of(get_run(database, part.run_id))
        if not earlier.eligible:
            why = "; ".join(earlier.reasons)
            reasons.append(
                f"its branch carries part {part.part} (run {part.run_id}), which is not eligible: {why}"
            )
    if not reasons:
        return decision
    return PromotionDecision(eligible=False, reasons=(*decision.reasons, *reasons))
