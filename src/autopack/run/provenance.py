"""Where a phase commit came from, as its trailers and tag say: run, phase, attempt, category,
the models that built it, what the phase cost, the Auditor's verdict and the approval."""

from __future__ import annotations

from decimal import Decimal

from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import Role
from autopack.run.outcomes import AuditStepOutcome
from autopack.run.services import RunServices
from autopack.store.ledger import ledger_for_run

# The trailer that marks a commit as a phase's: a resumed commit step finds it instead of
# committing twice.
AUTOPACK_TRAILER = "Autopack-Phase"


def auditor_verdict(audited: AuditStepOutcome) -> str:
    """What the Auditor said of the attempt that lands, as its commit's trailer carries it."""
    if audited.reason is None:
        return "not run"
    if audited.error is not None:
        return "no valid report"
    if not audited.findings:
        return "clean"
    return f"{len(audited.findings)} finding(s), {audited.majors} major"


def provenance(services: RunServices, phase_id: str, attempt: int) -> dict[str, str]:
    """Which models built the landing attempt, and what the whole phase cost, from the ledger."""
    calls = [
        call
        for call in ledger_for_run(services.database, services.run_id)
        if call.phase_id == phase_id
    ]
    builders = sorted(
        {
            f"{call.provider}:{call.model}"
            for call in calls
            if call.role is Role.BUILDER and call.attempt == attempt
        }
    )
    phase = services.phase(phase_id)
    return {
        "Autopack-Model": ", ".join(builders) or phase.models.get(Role.BUILDER, "none"),
        "Autopack-Cost-USD": f"{sum((call.usd for call in calls), Decimal(0)):.6f}",
    }


def phase_tag(run_id: str, phase_id: str) -> str:
    return f"autopack/{run_id}/{phase_id}"


def approval_of(phase: PhaseStrategy, audited: AuditStepOutcome, needs_approval: bool) -> str:
    """The commit's Autopack-Approval trailer."""
    if phase.auto_apply:
        return "not required"
    return "pending (autopack approve)" if needs_approval else "approved by the Auditor"
