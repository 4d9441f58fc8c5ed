"""The run as a DBOS workflow: tiers, phases and Builder attempts, each side effect a checkpointed step.

The loop decides only from step results, so replaying it after a kill takes the same path: steps
that had returned give their recorded results, and the first one that had not runs for real.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dbos import DBOS

from autopack.builder.base import Feedback, FeedbackKind, StopReason
from autopack.domain.states import FailureReason
from autopack.domain.strategy import PhaseStrategy
from autopack.run import attempt_steps, lifecycle
from autopack.run.baseline import measure_baseline
from autopack.run.services import RunOptions, RunServices, services_for

WORKFLOW_NAME = "autopack.run"


async def _step(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `func` as the workflow's next checkpointed step (a plain call outside a workflow)."""
    if DBOS.workflow_id is None:
        result = func(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result
    return await DBOS.run_step_async({"name": name}, func, *args, **kwargs)


async def _run_phase(
    services: RunServices, phase: PhaseStrategy
) -> tuple[FailureReason | None, int]:
    """None when the phase committed; otherwise why the run must end (and the last attempt)."""
    phase_id = phase.phase_id
    await _step("start_phase", lifecycle.start_phase, services, phase_id)
    feedback: list[Feedback] = []
    failed = 0
    for attempt in range(1, phase.max_builder_attempts + 1):
        last = attempt == phase.max_builder_attempts
        cap: FailureReason | None = await _step("check_caps", lifecycle.check_caps, services)
        if cap is not None:
            return cap, attempt
        built: attempt_steps.BuildOutcome = await _step(
            "build", attempt_steps.build, services, phase_id, attempt, tuple(feedback)
        )
        if built.stop_reason is StopReason.BUDGET:
            return FailureReason(code="budget.exhausted", message=built.stop_detail), attempt
        if built.stop_reason is StopReason.PROVIDER_UNAVAILABLE:
            return FailureReason(code="environment.provider", message=built.stop_detail), attempt
        gated: attempt_steps.GateOutcome = await _step(
            "gate", attempt_steps.gate, services, phase_id, attempt, built
        )
        ends_run = services.settings.ruleset.policy_violation_ends_run
        if gated.violation is not None and (ends_run or last):
            return (
                FailureReason(
                    code="policy.violation",
                    message=f"phase {phase_id} attempt {attempt} proposed a forbidden patch: {gated.violation}",
                ),
                attempt,
            )
        if not gated.applied:
            why = gated.message
            if built.stop_reason is not StopReason.FINISHED:
                why += f" (the Builder stopped: {built.stop_reason.value}: {built.stop_detail})"
            if gated.violation is not None:  # ruleset.policy_violation_ends_run = false
                kind = FeedbackKind.POLICY
            elif built.stop_reason is StopReason.NO_PROGRESS or not built.diff.strip():
                kind = FeedbackKind.NO_PROGRESS
            else:
                kind = FeedbackKind.PATCH_DIAGNOSTIC
            feedback.append(Feedback(kind=kind, summary=why))
            failed += 1
            await _step(
                "reject",
                attempt_steps.reject,
                services,
                phase_id,
                attempt,
                at_gate=True,
                why=why,
                last=last,
                incident={"diff": built.diff},
            )
            continue
        verified: attempt_steps.VerifyOutcome = await _step(
            "verify", attempt_steps.run_checks, services, phase_id, attempt
        )
        audited = attempt_steps.AuditStepOutcome()
        if verified.passed:
            audited = await _step(
                "audit",
                attempt_steps.audit,
                services,
                phase_id,
                attempt,
                built.diff,
                "all checks passed",
                failed,
            )
        # A major finding never commits, not even on the last attempt: the phase then fails with
        # the finding in its incident pack (the run never waits for a person).
        if not verified.passed or audited.majors:
            if not verified.passed:
                why = f"checks failed: {', '.join(verified.failures[:10])}"
                feedback.append(
                    Feedback(kind=FeedbackKind.TEST_FAILURE, summary=why, detail=verified.output)
                )
            else:
                why = f"the Auditor found {audited.majors} major issue(s)"
                feedback.append(
                    Feedback(
                        kind=FeedbackKind.AUDITOR_FINDING,
                        summary=why,
                        detail="\n".join(audited.findings),
                    )
                )
            failed += 1
            await _step(
                "reject",
                attempt_steps.reject,
                services,
                phase_id,
                attempt,
                at_gate=False,
                why=why,
                last=last,
                incident={
                    "diff": built.diff,
                    "test_output": verified.output,
                    "findings": "\n".join(audited.findings),
                },
            )
            continue
        await _step(
            "commit",
            attempt_steps.commit,
            services,
            phase_id,
            attempt,
            built.summary,
            attempt_steps.auditor_verdict(audited),
        )
        return None, attempt
    return (
        FailureReason(
            code="review.phase_failed",
            message=f"phase {phase_id} did not pass in {phase.max_builder_attempts} attempt(s): "
            f"{feedback[-1].summary if feedback else 'no attempt landed'}"[:1000],
        ),
        phase.max_builder_attempts,
    )


async def drive(services: RunServices) -> str:
    try:
        return await _drive(services)
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
    """The workflow's inputs are all a resume needs: which run, where, and how it was started."""
    services = services_for(run_id, repo_root, RunOptions.model_validate_json(options_json))
    return await drive(services)
