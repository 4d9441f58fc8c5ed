"""The run as a DBOS workflow: tiers in order, each tier's phases as child workflows (up to
`run.max_parallel_phases` at once, each once the phases it depends on have committed), and in each
phase its Builder attempts, every side effect a checkpointed step.

The loops decide only from step results, so replaying them after a kill takes the same path:
steps that had returned give their recorded results, and the first one that had not runs for
real. Which live phase ended first is recorded too (`DBOS.wait_first`), so a replay starts the
same phases in the same order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync

from autopack.builder.base import Feedback
from autopack.builder.progress import AttemptFingerprint
from autopack.config import settings_to_resume
from autopack.domain.states import FailureReason
from autopack.domain.strategy import PhaseStrategy, TierStrategy
from autopack.killpoints import reached
from autopack.run import attempt_steps, checks, lifecycle
from autopack.run.base_facts import measure_base_acceptance
from autopack.run.baseline import BrokenAtBase, measure_baseline
from autopack.run.decide import STEPS, Attempt, Next, decide
from autopack.run.outcomes import AuditStepOutcome, BuildOutcome
from autopack.run.services import RunOptions, RunServices, run_services
from autopack.verify.environment.base import ProjectEnvironmentError

WORKFLOW_NAME = "autopack.run"
PHASE_WORKFLOW_NAME = "autopack.phase"
WAIT_POLL_SECONDS = 0.2  # how soon the run notices that one of its live phases ended

# How a phase ended: None when it committed, else why the run must end; and its last attempt.
PhaseEnd = tuple[FailureReason | None, int]


def phase_workflow_id(run_id: str, phase_id: str) -> str:
    """A phase's workflow id, known to whoever resumes its run."""
    return f"{run_id}.phase.{phase_id}"


async def _step(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `func` as the workflow's next checkpointed step (a plain call outside a workflow)."""
    reached(f"step:{name}")  # the step before is recorded; this one has not begun
    if DBOS.workflow_id is None:
        result = func(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result
    return await DBOS.run_step_async({"name": name}, _reporting(name, func), *args, **kwargs)


def _reporting(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, passing the kill point between its return and DBOS recording what it returned."""
    if inspect.iscoroutinefunction(func):

        async def returning_async(*args: Any, **kwargs: Any) -> Any:
            result = await func(*args, **kwargs)
            reached(f"step:{name}:returned")
            return result

        return returning_async

    def returning(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        reached(f"step:{name}:returned")
        return result

    return returning


async def _run_phase(services: RunServices, phase: PhaseStrategy) -> PhaseEnd:
    """None when the phase committed; otherwise why the run must end (and the last attempt).

    Only performs: `decide` (run/decide.py) says which step comes next and how the attempt ends.
    """
    phase_id = phase.phase_id
    ends_run = services.settings.ruleset.policy_violation_ends_run
    await _step("start_phase", lifecycle.start_phase, services, phase_id)
    feedback: list[Feedback] = []
    earlier: list[AttemptFingerprint] = []
    for number in range(1, phase.max_builder_attempts + 1):
        cap: FailureReason | None = await _step(
            "check_caps", lifecycle.check_caps, services, phase_id
        )
        if cap is not None:
            return cap, number
        built: BuildOutcome = await _step(
            "build", attempt_steps.build, services, phase_id, number, tuple(feedback)
        )
        attempt = Attempt(number=number, built=built, earlier=tuple(earlier))
        decision = decide(attempt, phase, policy_violation_ends_run=ends_run)
        # Each merge onto a moved head follows another phase's commit: fewer than the run's phases.
        for remerges in range(len(services.strategy.phases)):
            while decision.next in STEPS:
                attempt = await _perform(
                    decision.next, services, phase_id, attempt, len(feedback), remerges
                )
                decision = decide(attempt, phase, policy_violation_ends_run=ends_run)
            if decision.next is not Next.COMMIT:
                break
            assert attempt.gated is not None  # decide commits only a gated attempt
            committed: str | None = await _step(
                "commit",
                attempt_steps.commit,
                services,
                phase_id,
                number,
                built.summary,
                attempt.audited or AuditStepOutcome(),
                decision.needs_approval,
                attempt.gated,
            )
            if committed is not None:
                return None, number
            # The head moved on: merged and checked again, the Auditor's review kept (same diff).
            attempt = replace(attempt, gated=None, verified=None)
            decision = decide(attempt, phase, policy_violation_ends_run=ends_run)
        else:
            raise AssertionError("a phase merges again only after another phase commits")
        if decision.reject:
            await _step(
                "reject",
                attempt_steps.reject,
                services,
                phase_id,
                number,
                at_gate=decision.at_gate,
                why=decision.why,
                last=decision.next is Next.END,
                incident=_incident(attempt),
            )
        if decision.next is Next.END:
            return decision.failure, number
        assert decision.feedback is not None  # a retry always carries what to fix
        feedback.append(decision.feedback)
        earlier.append(attempt.fingerprint)
    raise AssertionError("decide ends the phase on its last attempt")


async def _perform(
    step: Next, services: RunServices, phase_id: str, attempt: Attempt, failed: int, remerges: int
) -> Attempt:
    number, built = attempt.number, attempt.built
    if step is Next.GATE:
        gated = await _step(
            "gate", attempt_steps.gate, services, phase_id, number, built, remerge=remerges > 0
        )
        return replace(attempt, gated=gated)
    assert attempt.gated is not None  # decide checks and audits only a gated attempt
    if step is Next.VERIFY:
        verified = await _step(
            "verify",
            checks.run_checks,
            services,
            phase_id,
            number,
            built.changed_paths,
            attempt.gated.head,
            attempt.gated.tree,
        )
        return replace(attempt, verified=verified)
    audited = await _step(
        "audit",
        attempt_steps.audit,
        services,
        phase_id,
        number,
        built.diff,
        "all checks passed",
        failed,
        attempt.gated.tree,
    )
    return replace(attempt, audited=audited)


def _incident(attempt: Attempt) -> dict[str, str]:
    incident = {"diff": attempt.built.diff}
    if attempt.verified is not None:
        incident["test_output"] = attempt.verified.output
    if attempt.audited is not None:
        incident["findings"] = "\n".join(attempt.audited.findings)
    return incident


async def drive(services: RunServices) -> str:
    try:
        return await _drive(services)
    except (ProjectEnvironmentError, BrokenAtBase) as error:  # the project's: says what to do
        reason = FailureReason(
            code="environment.project", message=services.redactor.text(str(error))[:1000]
        )
        ended: str = await _step("finish_run_after_error", lifecycle.finish_run, services, reason)
        return ended
    except (
        Exception
    ) as error:  # every run reaches a terminal state, even through Autopack's own bugs
        reason = FailureReason(
            code="environment.internal",
            message=services.redactor.text(f"Autopack failed: {type(error).__name__}: {error}")[
                :1000
            ],
        )
        state: str = await _step("finish_run_after_error", lifecycle.finish_run, services, reason)
        return state


async def _drive(services: RunServices) -> str:
    ended: str | None = await _step("open_run", lifecycle.open_run, services)
    if ended is not None:
        return ended
    await _step("baseline", measure_baseline, services)
    await _step("base_acceptance", measure_base_acceptance, services)
    failure: FailureReason | None = None
    failed_at: tuple[str, int] | None = None
    committed: set[str] = set()
    for tier in services.strategy.tiers:
        await _step("start_tier", lifecycle.start_tier, services, tier.tier_id)
        failure, failed_at = await _run_tier(services, tier, committed)
        if failure is not None:
            break
        await _step("finish_tier", lifecycle.finish_tier, services, tier.tier_id)
    state: str = await _step("finish_run", lifecycle.finish_run, services, failure, failed_at)
    return state


async def _run_tier(
    services: RunServices, tier: TierStrategy, committed: set[str]
) -> tuple[FailureReason | None, tuple[str, int] | None]:
    """The tier's phases, each started in plan order once its dependencies committed, up to the
    run's parallel limit. After a phase fails none starts, and the live ones stop before their
    next attempt (check_caps sees the failed phase); the first failure ends the run."""
    limit = services.strategy.limits.max_parallel_phases
    waiting = list(tier.phases)
    live: dict[str, WorkflowHandleAsync[PhaseEnd]] = {}
    failure: FailureReason | None = None
    failed_at: tuple[str, int] | None = None
    while waiting or live:
        if failure is None:
            for phase in [p for p in waiting if set(p.depends_on) <= committed]:
                if len(live) >= limit:
                    break
                waiting.remove(phase)
                live[phase.phase_id] = await _start_phase(services, phase.phase_id)
        if not live:
            if failure is None:
                stuck = ", ".join(
                    f"{p.phase_id} (after {', '.join(p.depends_on)})" for p in waiting
                )
                failure = FailureReason(
                    code="review.unmet_dependency",
                    message=f"these phases wait for phases that never committed: {stuck}"[:1000],
                )
                failed_at = (waiting[0].phase_id, 0)
            break
        done = await DBOS.wait_first_async(
            list(live.values()), polling_interval_sec=WAIT_POLL_SECONDS
        )
        phase_id = next(key for key, handle in live.items() if handle is done)
        del live[phase_id]
        phase_failure, attempt = await done.get_result()
        if phase_failure is None:
            committed.add(phase_id)
        elif failure is None:
            failure, failed_at = phase_failure, (phase_id, attempt)
            await _step("halt_phases", lifecycle.halt_phases, services, phase_id, phase_failure)
    return failure, failed_at


async def _start_phase(services: RunServices, phase_id: str) -> WorkflowHandleAsync[PhaseEnd]:
    with SetWorkflowID(phase_workflow_id(services.run_id, phase_id)):
        return await DBOS.start_workflow_async(
            phase_workflow,
            services.run_id,
            str(services.settings.repo_root),
            services.options.model_dump_json(),
            phase_id,
        )


@DBOS.workflow(name=PHASE_WORKFLOW_NAME)
async def phase_workflow(run_id: str, repo_root: str, options_json: str, phase_id: str) -> PhaseEnd:
    """One phase's attempts, beside the run's other live phases; the run's services are shared
    with them in this process (run_services)."""
    current = settings_to_resume(Path(repo_root))
    options = RunOptions.model_validate_json(options_json)
    with run_services(run_id, current, options) as services:
        try:
            return await _run_phase(services, services.phase(phase_id))
        finally:  # however it ended, the phases behind it in the merge train must not wait on it
            services.train.leave(phase_id)


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_workflow(run_id: str, repo_root: str, options_json: str) -> str:
    """The workflow's inputs are all a resume needs: which run, where, and how it was started.

    DBOS calls it with those alone (after a restart too), so this is an edge: the process's own
    settings (its database, never stored with the run) are loaded here, as at every entry point.
    """
    current = settings_to_resume(Path(repo_root))
    options = RunOptions.model_validate_json(options_json)
    with run_services(run_id, current, options) as services:
        return await drive(services)
