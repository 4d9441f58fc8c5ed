"""The steps around the phases: open the run, start and finish tiers, check run caps, end the run.

Checkpointed by DBOS like the attempt steps (run/attempt_steps.py) and, like them, safe to repeat.
"""

from __future__ import annotations

import glob
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from autopack.domain.machines import RUN_MACHINE, PhaseEvent, RunEvent, TierEvent
from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.issues.backlog_aging import AgingThresholds
from autopack.issues.phase_issue_file import read_phase_issue_file
from autopack.issues.promotion import TierTolerance, distinct_open_counts, tier_cleanliness
from autopack.issues.settle import settle_run_issues
from autopack.killpoints import reached
from autopack.llm.budget import Level
from autopack.run.artefacts import (
    REPORTS_DIR,
    write_incident,
    write_run_summary,
    write_tier_summary,
)
from autopack.run.create import freeze_strategy
from autopack.run.events import (
    PhaseStarted,
    RunFinished,
    RunStarted,
    TierFinished,
    TierStarted,
)
from autopack.run.services import RunServices
from autopack.run.transitions import move_phase, move_run, move_tier
from autopack.store.progress import progress_after
from autopack.store.queue import cancel_reason
from autopack.store.runs import RunRecord, get_run, set_tier_cleanliness

# A cancelled run needs a person to decide what comes next, hence the review family.
CANCELLED = "review.cancelled"
HALTED = "review.halted"
_LIVE_PHASE = (PhaseState.EXECUTING, PhaseState.GATE, PhaseState.CI_RUNNING)


def open_run(services: RunServices) -> str | None:
    """Ready the integration branch; the terminal state instead if the run already ended
    (cancelled before any worker took it), so a late start does nothing."""
    run = get_run(services.database, services.run_id)
    if run.state.is_terminal:
        return run.state.value
    if run.state is RunState.PLAN_BOOTSTRAP:  # killed between storing the run and freezing it
        freeze_strategy(services.settings.runs_dir, services.strategy)
        move_run(services.database, services.run_id, RunEvent.STRATEGY_FROZEN, "strategy frozen")
        run = get_run(services.database, services.run_id)
    base = run.base_commit or services.git.head_commit()
    services.git.ensure_integration_branch(services.run_id, base)
    if run.state is RunState.RUN_CREATED:
        move_run(services.database, services.run_id, RunEvent.QUEUE_OPENED, "phase queue opened")
    services.emit(RunStarted(phases=len(services.strategy.phases)))
    return None


def start_tier(services: RunServices, tier_id: str) -> None:
    move_tier(services.database, services.run_id, tier_id, TierEvent.START, "first phase starts")
    services.emit(TierStarted(tier=tier_id))


def ci_runs_used(services: RunServices, tier_id: str) -> int:
    """The tier's Verifier runs so far: one report folder per verified attempt (a step repeated
    after a kill reuses its folder, so it is not counted twice)."""
    tier = next(t for t in services.strategy.tiers if t.tier_id == tier_id)
    reports = services.run_dir / REPORTS_DIR
    return sum(
        1
        for phase in tier.phases
        for folder in reports.glob(f"{glob.escape(phase.phase_id)}-a*")
        if folder.is_dir() and folder.name[len(phase.phase_id) + 2 :].isdigit()
    )


def check_caps(services: RunServices, phase_id: str) -> FailureReason | None:
    """A cancel request, or a run or tier cap, that ends the run before the phase's next attempt
    (the ledger stops calls mid-attempt)."""
    strategy = services.strategy
    cancelled = cancel_reason(services.database, services.run_id)
    if cancelled is not None:
        return FailureReason(code=CANCELLED, message=f"cancelled: {cancelled}")
    run = get_run(services.database, services.run_id)
    failed = [p.phase_id for tier in run.tiers for p in tier.phases if p.state is PhaseState.FAILED]
    if failed:
        return FailureReason(code=HALTED, message=f"phase {failed[0]} failed and ends the run")
    started = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - started > timedelta(minutes=strategy.limits.max_duration_minutes):
        return FailureReason(
            code="run.duration",
            message=f"the run passed its {strategy.limits.max_duration_minutes}-minute limit",
        )
    remaining = services.ledger.remaining((Level.RUN, services.run_id))
    if remaining.tokens <= 0 or remaining.usd <= 0:
        return FailureReason(
            code="budget.run",
            message=f"the run's budget is spent ({max(remaining.tokens, 0)} tokens, "
            f"${max(remaining.usd, Decimal(0)):.4f} left)",
        )
    tier = next(t for t in strategy.tiers if t.tier_id == services.phase(phase_id).tier_id)
    used = ci_runs_used(services, tier.tier_id)
    if used >= tier.ci_run_cap:
        return FailureReason(
            code="budget.ci_runs",
            message=f"tier {tier.tier_id} used its {tier.ci_run_cap} CI runs ({used} so far); "
            "the next attempt could not be verified",
        )
    minors, _ = distinct_open_counts(
        read_phase_issue_file(path) for path in services.run_dir.glob("phase_*_issues.json")
    )
    if minors > strategy.limits.max_minor_issues_total:
        return FailureReason(
            code="issues.minor_total",
            message=f"{minors} minor issues are open, over the run's cap of "
            f"{strategy.limits.max_minor_issues_total}",
        )
    return None


def start_phase(services: RunServices, phase_id: str) -> None:
    phase = services.phase(phase_id)
    if get_run(services.database, services.run_id).state is RunState.PHASE_QUEUEING:
        move_run(services.database, services.run_id, RunEvent.PHASE_STARTED, "phases start")
    move_phase(services.database, services.run_id, phase_id, PhaseEvent.START, "attempt 1")
    services.emit(PhaseStarted(tier=phase.tier_id, phase=phase_id, title=phase.title))


def halt_phases(services: RunServices, phase_id: str, failure: FailureReason) -> None:
    """A phase ended the run: it is marked failed now, so the phases still live stop before
    their next attempt rather than when the run ends (check_caps)."""
    state = next(
        p.state
        for tier in get_run(services.database, services.run_id).tiers
        for p in tier.phases
        if p.phase_id == phase_id
    )
    if state in _LIVE_PHASE:
        move_phase(services.database, services.run_id, phase_id, PhaseEvent.FAIL, failure.message)


def finish_tier(services: RunServices, tier_id: str) -> None:
    tier = next(t for t in services.strategy.tiers if t.tier_id == tier_id)
    minors, majors = distinct_open_counts(services.issue_file(phase) for phase in tier.phases)
    cleanliness = tier_cleanliness(
        minors,
        majors,
        TierTolerance(
            minor_issues_tolerated=tier.minor_issues_tolerated,
            major_issues_tolerated=tier.major_issues_tolerated,
        ),
    )
    set_tier_cleanliness(services.database, services.run_id, tier_id, cleanliness)
    move_tier(
        services.database,
        services.run_id,
        tier_id,
        TierEvent.FINISH,
        f"all phases done; {cleanliness.value}",
    )
    write_tier_summary(services, tier_id)
    services.emit(TierFinished(tier=tier_id, cleanliness=cleanliness.value))


_FAILURE_EVENTS = {
    "budget": RunEvent.BUDGET_EXHAUSTED,
    "policy": RunEvent.POLICY_VIOLATED,
    "environment": RunEvent.ENVIRONMENT_FAILED,
    "review": RunEvent.REVIEW_REQUIRED,
}


def failure_event(reason: FailureReason) -> RunEvent:
    return _FAILURE_EVENTS.get(reason.code.split(".")[0], RunEvent.REVIEW_REQUIRED)


def finish_run(
    services: RunServices,
    failure: FailureReason | None,
    failed_at: tuple[str, int] | None = None,
) -> str:
    """Skip what never ran, settle issues, clean up and write the summary, then end in a terminal
    state. A run found terminal (a replay after a kill) has its clean-up and summary done again,
    so a terminal run always has both, whenever the process died."""
    database, run_id = services.database, services.run_id
    run = get_run(database, run_id)
    if not run.state.is_terminal:
        _end_run(services, run, failure, failed_at)
    else:
        services.git.remove_run_worktrees(run_id)
        write_run_summary(services)
    ended = get_run(database, run_id)
    told = any(event.kind == "run_finished" for event in progress_after(database, 0, run_id=run_id))
    if not told:
        reason = ended.failure.message if ended.failure else None
        services.emit(RunFinished(state=ended.state.value, reason=reason))
    return ended.state.value


def _end_run(
    services: RunServices,
    run: RunRecord,
    failure: FailureReason | None,
    failed_at: tuple[str, int] | None,
) -> None:
    database, run_id = services.database, services.run_id
    for tier in run.tiers:
        for phase in tier.phases:
            if phase.state is PhaseState.QUEUED:
                move_phase(database, run_id, phase.phase_id, PhaseEvent.SKIP, "the run ended first")
            elif phase.state in _LIVE_PHASE:
                move_phase(
                    database,
                    run_id,
                    phase.phase_id,
                    PhaseEvent.FAIL,
                    failure.message if failure else "ended",
                )
        if tier.state is TierState.PENDING:
            move_tier(database, run_id, tier.tier_id, TierEvent.SKIP, "the run ended first")
        elif tier.state is TierState.IN_PROGRESS:
            move_tier(
                database,
                run_id,
                tier.tier_id,
                TierEvent.FAIL,
                failure.message if failure else "ended",
            )
    aging = services.settings.ruleset.aging
    settle_run_issues(
        database,
        services.settings.runs_dir,
        services.strategy.project_id,
        run_id,
        AgingThresholds(runs=aging.runs, tiers=aging.tiers),
    )
    event = RunEvent.ALL_PHASES_DONE if failure is None else failure_event(failure)
    if failure is not None:
        if run.state is not RunState.RUN_CREATED:  # a run cancelled unstarted has no branch yet
            services.git.reset_integration(services.run_id)
        phase_id, attempt = failed_at or (None, 0)
        incident = (
            services.run_dir / "incidents" / (f"{phase_id}-a{attempt}" if phase_id else "run")
        )
        if not incident.exists():
            write_incident(services, phase_id, attempt, failure.message, {})
    services.git.remove_run_worktrees(run_id)
    # Written as the run will be, before it is: a kill between the two leaves a run that is not
    # terminal yet, and its replay writes both.
    ending = get_run(database, run_id)
    final = RUN_MACHINE.next_state(ending.state, event)
    write_run_summary(services, ending.model_copy(update={"state": final, "failure": failure}))
    reached("run:summary-written")
    if failure is None:
        move_run(database, run_id, event, "every phase committed")
    else:
        move_run(database, run_id, event, failure.message, reason=failure)
    reached("run:terminal")
