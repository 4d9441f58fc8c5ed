"""The steps of a run, each a unit DBOS checkpoints: once one has returned, a resume never repeats it.

Every step takes ids and plain values and returns a plain value, reads what it needs from the
store, and is safe to run again after a kill in its middle: worktrees are rebuilt from a recorded
commit, the integration worktree is reset to its head before a patch is applied, a commit already
made for the attempt is found rather than made twice, and state moves already made are passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from autopack.apply.formats.unified import parse_unified
from autopack.apply.policy import check_patch
from autopack.audit.auditor import Auditor, AuditRequest
from autopack.audit.issues import record_audit
from autopack.audit.policy import audit_reason
from autopack.builder.agent import AgentBuilder
from autopack.builder.base import BuildRequest, Feedback, StopReason
from autopack.domain.machines import PhaseEvent, RunEvent, TierEvent
from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import Role, Severity
from autopack.errors import PatchFormatError, PolicyViolation
from autopack.issues.atomic_json import write_json_atomic
from autopack.issues.backlog_aging import AgingThresholds
from autopack.issues.phase_issue_file import (
    PhaseIssueFile,
    phase_issue_path,
    read_phase_issue_file,
    write_phase_issue_file,
)
from autopack.issues.promotion import TierTolerance, tier_cleanliness
from autopack.issues.settle import settle_run_issues
from autopack.llm.budget import Level
from autopack.run.artefacts import write_incident, write_run_summary, write_tier_summary
from autopack.run.services import RunServices
from autopack.run.transitions import move_phase, move_run, move_tier
from autopack.store.attempts import attempts_of_phase, finish_attempt, start_attempt
from autopack.store.ledger import ledger_for_run
from autopack.store.runs import get_run, set_tier_cleanliness
from autopack.verify.base import Limits, minimal_env
from autopack.verify.registry import profile_commands
from autopack.verify.verifier import verify

OUTPUT_CHARS = 6_000
AUTOPACK_TRAILER = "Autopack-Phase"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuildOutcome(_Value):
    attempt: int
    stop_reason: StopReason
    stop_detail: str
    diff: str
    changed_paths: tuple[str, ...]
    summary: str
    base_commit: str
    tokens: int
    usd: Decimal


class GateOutcome(_Value):
    applied: bool
    violation: str | None = None
    message: str = ""


class VerifyOutcome(_Value):
    passed: bool
    failures: tuple[str, ...] = ()
    output: str = ""
    sandbox: str = ""


class AuditStepOutcome(_Value):
    reason: str | None = None
    majors: int = 0
    findings: tuple[str, ...] = ()
    error: str | None = None


def _phase(services: RunServices, phase_id: str) -> PhaseStrategy:
    for phase in services.strategy.phases:
        if phase.phase_id == phase_id:
            return phase
    raise KeyError(phase_id)


def _clip(text: str, limit: int = OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n… [{len(text) - limit} characters cut] …\n" + text[-half:]


def open_run(services: RunServices) -> None:
    run = get_run(services.database, services.run_id)
    base = run.base_commit or services.git.head_commit()
    services.git.ensure_integration_branch(services.run_id, base)
    if run.state is RunState.RUN_CREATED:
        move_run(services.database, services.run_id, RunEvent.QUEUE_OPENED, "phase queue opened")
    services.emit("run_started", phases=len(services.strategy.phases))


def start_tier(services: RunServices, tier_id: str) -> None:
    move_tier(services.database, services.run_id, tier_id, TierEvent.START, "first phase starts")
    services.emit("tier_started", tier=tier_id)


def check_caps(services: RunServices) -> FailureReason | None:
    """The run-level caps that end a run between attempts (the ledger stops calls mid-attempt)."""
    strategy = services.strategy
    run = get_run(services.database, services.run_id)
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
    minors = sum(
        read_phase_issue_file(path).minor_count
        for path in services.run_dir.glob("phase_*_issues.json")
    )
    if minors > strategy.limits.max_minor_issues_total:
        return FailureReason(
            code="issues.minor_total",
            message=f"{minors} minor issues are open, over the run's cap of "
            f"{strategy.limits.max_minor_issues_total}",
        )
    return None


def start_phase(services: RunServices, phase_id: str) -> None:
    phase = _phase(services, phase_id)
    move_run(services.database, services.run_id, RunEvent.PHASE_STARTED, f"phase {phase_id} starts")
    move_phase(services.database, services.run_id, phase_id, PhaseEvent.START, "attempt 1")
    services.emit("phase_started", tier=phase.tier_id, phase=phase_id, title=phase.title)


def _attempt_spend(services: RunServices, phase_id: str, attempt: int) -> tuple[int, Decimal]:
    calls = [
        call
        for call in ledger_for_run(services.database, services.run_id)
        if call.phase_id == phase_id and call.attempt == attempt and call.role is Role.BUILDER
    ]
    return (
        sum(call.input_tokens + call.output_tokens for call in calls),
        sum((call.usd for call in calls), Decimal(0)),
    )


async def build(
    services: RunServices, phase_id: str, attempt: int, feedback: tuple[Feedback, ...]
) -> BuildOutcome:
    phase = _phase(services, phase_id)
    services.emit("attempt", phase=phase_id, attempt=attempt, step="build")
    open_attempts = [
        a
        for a in attempts_of_phase(services.database, services.run_id, phase_id)
        if a.role is Role.BUILDER and a.finished_at is None
    ]
    record = open_attempts[-1] if open_attempts else None
    if record is None:
        record = start_attempt(
            services.database,
            services.run_id,
            phase_id,
            Role.BUILDER,
            services.alias_name(phase, Role.BUILDER),
        )
    worktree = services.git.create_attempt_worktree(services.run_id, f"{phase_id}-a{attempt}")
    try:
        remaining = services.ledger.remaining((Level.PHASE, phase_id))
        builder = AgentBuilder(
            services.model_for(phase, Role.BUILDER, attempt),
            sandbox=services.sandbox,
            policy=services.settings.policy,
            redactor=services.redactor,
            env=minimal_env(),
        )
        result = await builder.build(
            BuildRequest(
                phase=phase,
                worktree=worktree,
                attempt=attempt,
                feedback=feedback,
                remaining_tokens=max(remaining.tokens, 0),
                remaining_usd=max(remaining.usd, Decimal(0)),
            )
        )
    finally:
        services.git.remove_worktree(worktree)
    attempt_dir = services.run_dir / "attempts" / f"{phase_id}-a{attempt}"
    write_json_atomic(
        attempt_dir / "trajectory.json",
        [step.model_dump(mode="json") for step in result.trajectory],
    )
    (attempt_dir / "diff.patch").write_text(result.diff, encoding="utf-8")
    tokens, spent = _attempt_spend(services, phase_id, attempt)
    finish_attempt(
        services.database, record.id, outcome=result.stop_reason.value, tokens=tokens, usd=spent
    )
    services.emit(
        "built",
        phase=phase_id,
        attempt=attempt,
        stop=result.stop_reason.value,
        files=len(result.changed_paths),
        tokens=tokens,
        usd=str(spent),
    )
    return BuildOutcome(
        attempt=attempt,
        stop_reason=result.stop_reason,
        stop_detail=result.stop_detail,
        diff=result.diff,
        changed_paths=result.changed_paths,
        summary=result.summary,
        base_commit=worktree.base_commit,
        tokens=tokens,
        usd=spent,
    )


def gate(services: RunServices, phase_id: str, attempt: int, built: BuildOutcome) -> GateOutcome:
    """Governed apply onto the integration worktree: policy first, then all-or-nothing."""
    database, run_id = services.database, services.run_id
    move_run(
        database, run_id, RunEvent.PATCH_PROPOSED, f"{phase_id} attempt {attempt} proposes a patch"
    )
    move_phase(database, run_id, phase_id, PhaseEvent.SUBMIT, f"attempt {attempt}")
    services.emit("attempt", phase=phase_id, attempt=attempt, step="gate")
    integration_path = services.git.integration_worktree(run_id).path
    services.git.reset_integration(services.run_id)
    if not built.diff.strip():
        return GateOutcome(applied=False, message="the attempt changed nothing")
    try:
        check_patch(integration_path, parse_unified(built.diff), services.settings.policy)
    except PolicyViolation as violation:
        return GateOutcome(applied=False, violation=str(violation), message=str(violation))
    except PatchFormatError as error:
        return GateOutcome(applied=False, message=f"the diff cannot be read: {error}")
    applied = services.git.apply_to_integration(run_id, built.diff, built.base_commit)
    if not applied.applied:
        conflicts = ", ".join(applied.conflicts)
        return GateOutcome(
            applied=False,
            message="the patch does not apply to the integration branch"
            + (f" (conflicts in {conflicts})" if conflicts else f": {applied.message}"),
        )
    move_run(database, run_id, RunEvent.GATE_PASSED, f"{phase_id} patch applied")
    move_phase(database, run_id, phase_id, PhaseEvent.GATE_PASS, "patch applied")
    return GateOutcome(applied=True, message="applied")


def run_checks(services: RunServices, phase_id: str, attempt: int) -> VerifyOutcome:
    phase = _phase(services, phase_id)
    services.emit("attempt", phase=phase_id, attempt=attempt, step="verify")
    integration = services.git.integration_worktree(services.run_id)
    result = verify(
        integration.path,
        profile_commands(services.settings, phase.ci_profile),
        services.sandbox,
        Limits(wall_seconds=600),
        services.run_dir / "reports" / f"{phase_id}-a{attempt}",
        env=minimal_env(),
    )
    failing = [outcome for outcome in result.final if not outcome.passed]
    output = "\n\n".join(
        f"$ {outcome.command}\n(exit {outcome.exit_code}"
        + (", timed out" if outcome.timed_out else "")
        + f")\n{outcome.output_excerpt}"
        for outcome in failing
    )
    services.emit(
        "verified",
        phase=phase_id,
        attempt=attempt,
        passed=result.passed,
        failures=len(result.failures),
        seconds=sum(outcome.seconds for run in result.runs for outcome in run),
    )
    return VerifyOutcome(
        passed=result.passed,
        failures=result.failures,
        output=_clip(output),
        sandbox=result.sandbox,
    )


def _issue_file(services: RunServices, phase: PhaseStrategy) -> PhaseIssueFile:
    path = phase_issue_path(
        services.settings.runs_dir, services.run_id, phase.position, phase.phase_id
    )
    if path.exists():
        return read_phase_issue_file(path)
    return PhaseIssueFile(
        run_id=services.run_id,
        tier_id=phase.tier_id,
        phase_id=phase.phase_id,
        position=phase.position,
    )


async def audit(
    services: RunServices,
    phase_id: str,
    attempt: int,
    diff: str,
    verify_summary: str,
    failed_attempts: int,
) -> AuditStepOutcome:
    phase = _phase(services, phase_id)
    issues = _issue_file(services, phase)
    reason = audit_reason(
        phase, major_issues_open=issues.major_count, failed_attempts=failed_attempts
    )
    if reason is None:
        return AuditStepOutcome()
    services.emit("attempt", phase=phase_id, attempt=attempt, step="audit", reason=reason)
    integration = services.git.integration_worktree(services.run_id)
    code = {}
    for path in parse_unified(diff).paths if diff.strip() else ():
        target = integration.path / path
        if target.is_file():
            code[path] = target.read_text(encoding="utf-8", errors="replace")
    auditor = Auditor(services.model_for(phase, Role.AUDITOR, attempt), redactor=services.redactor)
    outcome = await auditor.audit(
        AuditRequest(
            phase=phase,
            diff=diff,
            verify_summary=verify_summary,
            code=code,
            open_issues=issues.open_issues,
        )
    )
    recorded = record_audit(issues, outcome, phase, services.run_id)
    write_phase_issue_file(services.settings.runs_dir, recorded.file)
    majors = [
        finding for finding in outcome.kept if Severity(finding.severity) is not Severity.MINOR
    ]
    services.emit(
        "audited", phase=phase_id, attempt=attempt, findings=len(outcome.kept), majors=len(majors)
    )
    return AuditStepOutcome(
        reason=reason,
        majors=len(majors),
        findings=tuple(
            f"{f.issue_key} ({f.severity}): {f.failure_scenario} Fix: {f.suggested_fix}"
            for f in outcome.kept
        ),
        error=outcome.error,
    )


def commit(services: RunServices, phase_id: str, attempt: int, summary: str) -> str:
    """The phase's commit on the integration branch; found, not repeated, when a resume re-runs it."""
    phase = _phase(services, phase_id)
    database, run_id = services.database, services.run_id
    integration = services.git.integration_worktree(run_id)
    if services.git.head_trailers(run_id).get(AUTOPACK_TRAILER) == phase_id:
        sha = integration.base_commit
    else:
        subject = f"{phase.title} [{phase_id}]"
        sha = services.git.commit(
            run_id,
            subject,
            {
                "Autopack-Run": run_id,
                AUTOPACK_TRAILER: phase_id,
                "Autopack-Attempt": str(attempt),
                "Autopack-Category": phase.task_category.value,
            },
        )
    move_run(database, run_id, RunEvent.CI_PASSED, f"{phase_id} checks passed")
    move_phase(database, run_id, phase_id, PhaseEvent.CI_PASS, f"committed {sha[:12]}")
    move_run(database, run_id, RunEvent.SNAPSHOT_TAKEN, f"{phase_id} committed {sha[:12]}")
    if summary:
        write_json_atomic(
            services.run_dir / "attempts" / f"{phase_id}-a{attempt}" / "summary.json",
            {"summary": summary, "commit": sha},
        )
    services.emit("committed", phase=phase_id, attempt=attempt, commit=sha)
    return sha


def reject(
    services: RunServices,
    phase_id: str,
    attempt: int,
    *,
    at_gate: bool,
    why: str,
    last: bool,
    incident: dict[str, str],
) -> None:
    """An attempt that does not land: the integration worktree is reset; retry or give the phase up."""
    database, run_id = services.database, services.run_id
    services.git.reset_integration(services.run_id)
    services.emit("rejected", phase=phase_id, attempt=attempt, why=why, last=last)
    if not last:
        if at_gate:
            move_run(database, run_id, RunEvent.GATE_REJECTED, f"{phase_id}: {why}"[:500])
            move_phase(database, run_id, phase_id, PhaseEvent.GATE_REJECT, why[:500])
        else:
            move_run(database, run_id, RunEvent.CI_FAILED, f"{phase_id}: {why}"[:500])
            move_phase(database, run_id, phase_id, PhaseEvent.CI_FAIL, why[:500])
        return
    move_phase(database, run_id, phase_id, PhaseEvent.FAIL, why[:500])
    move_run(database, run_id, RunEvent.PHASE_ABANDONED, f"{phase_id} given up: {why}"[:500])
    write_incident(services, phase_id, attempt, why, incident)


def finish_tier(services: RunServices, tier_id: str) -> None:
    tier = next(t for t in services.strategy.tiers if t.tier_id == tier_id)
    files = [_issue_file(services, phase) for phase in tier.phases]
    cleanliness = tier_cleanliness(
        sum(f.minor_count for f in files),
        sum(f.major_count for f in files),
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
    services.emit("tier_finished", tier=tier_id, cleanliness=cleanliness.value)


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
    """Skip what never ran, settle issues, write the summary, and end in a terminal state."""
    database, run_id = services.database, services.run_id
    run = get_run(database, run_id)
    if run.state.is_terminal:
        return run.state.value
    for tier in run.tiers:
        for phase in tier.phases:
            if phase.state is PhaseState.QUEUED:
                move_phase(database, run_id, phase.phase_id, PhaseEvent.SKIP, "the run ended first")
            elif phase.state in (PhaseState.EXECUTING, PhaseState.GATE, PhaseState.CI_RUNNING):
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
    if failure is None:
        move_run(database, run_id, RunEvent.ALL_PHASES_DONE, "every phase committed")
    else:
        services.git.reset_integration(services.run_id)
        move_run(database, run_id, failure_event(failure), failure.message, reason=failure)
        phase_id, attempt = failed_at or (None, 0)
        incident = (
            services.run_dir / "incidents" / (f"{phase_id}-a{attempt}" if phase_id else "run")
        )
        if not incident.exists():
            write_incident(services, phase_id, attempt, failure.message, {})
    services.git.remove_run_worktrees(run_id)
    write_run_summary(services)
    state = get_run(database, run_id).state
    services.emit("run_finished", state=state.value, reason=failure.message if failure else None)
    return state.value
