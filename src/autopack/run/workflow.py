"""The run as a DBOS workflow: tiers, phases and Builder attempts, each side effect a checkpointed step.

The loop decides only from step results, so replaying it after a kill takes the same path: steps
that had returned give their recorded results, and the first one that had not runs for real.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbos import DBOS

from autopack.builder.base import Feedback
from autopack.builder.progress import AttemptFingerprint
from autopack.config import settings_to_resume
from autopack.domain.states import FailureReason
from autopack.domain.strategy import PhaseStrategy
from autopack.killpoints import reached
from autopack.run import attempt_steps, checks, lifecycle
from autopack.run.base_facts import measure_base_acceptance
from autopack.run.baseline import BrokenAtBase, measure_baseline
from autopack.run.decide import STEPS, Attempt, Next, decide
from autopack.run.outcomes import AuditStepOutcome, BuildOutcome
from autopack.run.services import RunOptions, RunServices, run_services
from autopack.verify.environment.base import ProjectEnvironmentError

WORKFLOW_NAME = "autopack.run"


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


async def _run_phase(
    services: RunServices, phase: PhaseStrategy
) -> tuple[FailureReason | None, int]:
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
        while decision.next in STEPS:
            attempt = await _perform(decision.next, services, phase_id, attempt, len(feedback))
            decision = decide(attempt, phase, policy_violation_ends_run=ends_run)
        if decision.next is Next.COMMIT:
            await _step(
                "commit",
                attempt_steps.commit,
                services,
                phase_id,
                number,
                built.summary,
                attempt.audited or AuditStepOutcome(),
                decision.needs_approval,
            )
            return None, number
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
    step: Next, services: RunServices, phase_id: str, attempt: Attempt, failed: int
) -> Attempt:
    number, built = attempt.number, attempt.built
    if step is Next.GATE:
        gated = await _step("gate", attempt_steps.gate, services, phase_id, number, built)
        return replace(attempt, gated=gated)
    if step is Next.VERIFY:
        verified = await _step(
            "verify", checks.run_checks, services, phase_id, number, built.changed_paths
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
    for tier in services.strategy.tiers:
        await _step("start_tier", lifecycle.start_tier, services, tier.tier_id)
        for phase in tier.phases:
            failure, attempt = await _run_phase(services, phase)
            if failure is not None:
                failed_at = (phase.phase_id, attempt)
                break
        if failure is not None:
            break
        await _step("finish_tier", lifecycle.finish_tier, services, tier.tier_id)
    state: str = await _step("finish_run", lifecycle.finish_run, services, failure, failed_at)
    return state


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
