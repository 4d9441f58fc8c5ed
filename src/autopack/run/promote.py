"""Promotion: a finished run's integration branch merged into a branch of the user's choosing,
only when the run is eligible; and the approval a phase with auto_apply = false needs first."""

from __future__ import annotations

from pathlib import Path

from autopack.domain.vocabulary import Approval
from autopack.errors import AutopackError, NotFound
from autopack.issues.promotion import PromotionDecision
from autopack.run.artefacts import SUMMARY_FILE, approval_line
from autopack.run.chain_promotion import promotion_in_chain
from autopack.store.engine import Database
from autopack.store.runs import PhaseRecord, get_run, set_phase_approval
from autopack.workspace.base import GitAdapter


class PromotionRefused(AutopackError):
    exit_code = 7

    def __init__(self, run_id: str, decision: PromotionDecision):
        self.decision = decision
        reasons = "; ".join(decision.reasons)
        super().__init__(f"run {run_id} cannot be promoted: {reasons}")


class ApprovalRefused(AutopackError):
    """The phase has nothing to approve: it needs no approval or has not committed."""

    exit_code = 7


def promote_run(
    database: Database, git: GitAdapter, run_id: str, into: str | None = None
) -> tuple[str, str]:
    """(target branch, its new head)."""
    run = get_run(database, run_id)
    decision = promotion_in_chain(database, run)
    if not decision.eligible:
        raise PromotionRefused(run_id, decision)
    target = into or run.base_branch
    if target is None:
        raise AutopackError(f"run {run_id} recorded no starting branch; pass --into BRANCH")
    return target, git.promote(run_id, target)


def approve_phase(
    database: Database, runs_dir: Path, run_id: str, phase_id: str, by: str
) -> PhaseRecord:
    """A person approves a committed high-risk phase for promotion; the first approval stands.

    The run's RUN_SUMMARY.md gets a line saying who approved it and when.
    """
    run = get_run(database, run_id)
    phase = next((p for t in run.tiers for p in t.phases if p.phase_id == phase_id), None)
    if phase is None:
        raise NotFound(f"no phase {phase_id!r} in run {run_id!r}")
    if phase.approval is None:
        raise ApprovalRefused(
            f"phase {phase_id} of run {run_id} has nothing to approve: it needs no approval "
            "(auto_apply) or it did not commit"
        )
    if phase.approval is Approval.APPROVED:
        return phase
    approved = set_phase_approval(database, run_id, phase_id, Approval.APPROVED, by=by)
    summary = runs_dir / run_id / SUMMARY_FILE
    if summary.exists():
        with summary.open("a", encoding="utf-8") as out:
            out.write(approval_line(run_id, approved) + "\n")
    return approved
