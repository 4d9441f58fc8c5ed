"""The steps of one phase attempt — build, governed apply, checks, audit, commit or reject.

Each is a unit DBOS checkpoints: once one has returned, a resume never repeats it. Every step takes
ids and plain values, returns a plain value, reads what it needs from the store, and is safe to
run again after a kill in its middle: the attempt worktree is rebuilt from a recorded commit, the
integration worktree is reset to its head before a patch is applied, a commit already made for
the attempt is found rather than made twice, and state moves already made are passed.
"""

from __future__ import annotations

from decimal import Decimal

from autopack.apply.findings import policy_issue
from autopack.apply.formats.unified import parse_unified
from autopack.apply.integrate import merge_staged, stage
from autopack.audit.auditor import Auditor, AuditOutcome, AuditRequest
from autopack.audit.issues import audit_issues
from autopack.audit.policy import audit_reason
from autopack.builder.base import BuildRequest, Feedback, FeedbackKind
from autopack.builder.notes import builder_issues
from autopack.domain.machines import PhaseEvent
from autopack.domain.vocabulary import Approval, Role, Severity
from autopack.errors import ConfigError, PolicyViolation
from autopack.issues.atomic_json import write_json_atomic
from autopack.issues.record import resolve_issues, update_phase_issues
from autopack.issues.settle import debt_paid
from autopack.llm.budget import Level
from autopack.run.artefacts import write_incident
from autopack.run.attempt_issues import fixed_by_landing, majors_calling_for_review
from autopack.run.events import (
    AttemptStep,
    Audited,
    Built,
    Committed,
    Rejected,
)
from autopack.run.outcomes import AuditStepOutcome, BuildOutcome, GateOutcome
from autopack.run.provenance import (
    AUTOPACK_TRAILER,
    approval_of,
    auditor_verdict,
    phase_tag,
    provenance,
)
from autopack.run.services import RunServices
from autopack.run.transitions import move_phase
from autopack.store.attempts import attempts_of_phase, finish_attempt, start_attempt
from autopack.store.issue_records import load_backlog
from autopack.store.ledger import ledger_for_run
from autopack.store.runs import get_run, set_phase_approval
from autopack.workspace.base import StagedAttempt

OUTPUT_CHARS = 6_000


def _clip(text: str, limit: int = OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n… [{len(text) - limit} characters cut] …\n" + text[-half:]


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
    phase = services.phase(phase_id)
    # An attempt after one that made no progress gets the next stronger model.
    escalate = bool(feedback) and feedback[-1].kind is FeedbackKind.NO_PROGRESS
    alias = services.alias_name(phase, Role.BUILDER, escalate=escalate, attempt=attempt)
    services.emit(
        AttemptStep(
            phase=phase_id, attempt=attempt, step="build", model=alias, builder=phase.builder.value
        )
    )
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
            alias,
        )
    # From the tree the branch will hold once the merge train has landed: an attempt after a
    # conflict with a phase still in it is built on that phase's change.
    worktree = services.git.create_attempt_worktree(
        services.run_id, f"{phase_id}-a{attempt}", services.train.tail()
    )
    try:
        remaining = services.left_for(phase, attempt)
        builder = services.builder_for(phase, attempt, escalate=escalate)
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
        try:
            staged: StagedAttempt | None = stage(services.git, worktree)
            refusal = None
        except PolicyViolation as violation:
            staged, refusal = None, str(violation)
            services.record_issues(phase, [policy_issue(violation, services.run_id)])
    finally:
        services.git.remove_worktree(worktree)
    diff = staged.diff if staged is not None else result.diff
    attempt_dir = services.run_dir / "attempts" / f"{phase_id}-a{attempt}"
    write_json_atomic(
        attempt_dir / "trajectory.json",
        [step.model_dump(mode="json") for step in result.trajectory],
    )
    (attempt_dir / "diff.patch").write_text(diff, encoding="utf-8")
    services.record_issues(phase, builder_issues(result.suggested_issues, phase, services.run_id))
    tokens, spent = _attempt_spend(services, phase_id, attempt)
    finish_attempt(
        services.database, record.id, outcome=result.stop_reason.value, tokens=tokens, usd=spent
    )
    run_spent = services.ledger.spent((Level.RUN, services.run_id))
    budget = services.strategy.limits.budget
    services.emit(
        Built(
            phase=phase_id,
            attempt=attempt,
            stop=result.stop_reason.value,
            files=len(staged.paths if staged is not None else result.changed_paths),
            tokens=tokens,
            usd=str(spent),
            run_tokens=run_spent.tokens,
            run_usd=str(run_spent.usd),
            budget_tokens=budget.tokens,
            budget_usd=str(budget.usd),
        )
    )
    return BuildOutcome(
        attempt=attempt,
        stop_reason=result.stop_reason,
        stop_detail=result.stop_detail,
        diff=diff,
        changed_paths=staged.paths if staged is not None else result.changed_paths,
        summary=result.summary,
        base_commit=worktree.base_commit,
        tokens=tokens,
        usd=spent,
        tree=staged.tree if staged is not None else "",
        refusal=refusal,
    )


def gate(
    services: RunServices, phase_id: str, attempt: int, built: BuildOutcome, remerge: bool = False
) -> GateOutcome:
    """Governed apply: the attempt merged onto the integration branch's current head, judged by
    the write policy; nothing is written until the commit lands exactly the judged tree.

    `remerge`: the branch moved on (another phase committed) while this merge was checked."""
    database, run_id = services.database, services.run_id
    if remerge:
        move_phase(database, run_id, phase_id, PhaseEvent.REMERGE, "the branch moved on")
    else:
        move_phase(database, run_id, phase_id, PhaseEvent.SUBMIT, f"attempt {attempt}")
    services.emit(AttemptStep(phase=phase_id, attempt=attempt, step="gate"))
    if built.refusal is not None:
        return GateOutcome(applied=False, violation=built.refusal, message=built.refusal)
    staged = StagedAttempt(
        base_commit=built.base_commit,
        tree=built.tree,
        diff=built.diff,
        paths=built.changed_paths if built.tree else (),
    )
    try:
        with services.integration_lock:
            # Onto the last phase in the merge train, so both are checked at once.
            head, tree, applied = merge_staged(
                services.git, run_id, staged, services.settings.policy, services.train.tail()
            )
            if tree is not None:
                services.train.board(phase_id, services.git.commit_tree(tree, head))
    except PolicyViolation as violation:
        services.record_issues(services.phase(phase_id), [policy_issue(violation, run_id)])
        return GateOutcome(applied=False, violation=str(violation), message=str(violation))
    if tree is None and not applied.conflicts and not applied.three_way:
        return GateOutcome(applied=False, message=applied.message)
    if tree is None:
        conflicts = ", ".join(applied.conflicts)
        return GateOutcome(
            applied=False,
            message="the patch does not apply to the integration branch"
            + (f" (conflicts in {conflicts})" if conflicts else f": {applied.message}"),
        )
    move_phase(database, run_id, phase_id, PhaseEvent.GATE_PASS, "patch applied")
    return GateOutcome(applied=True, message="applied", head=head, tree=tree)


async def audit(
    services: RunServices,
    phase_id: str,
    attempt: int,
    diff: str,
    verify_summary: str,
    failed_attempts: int,
    tree: str = "",
) -> AuditStepOutcome:
    phase = services.phase(phase_id)
    issues = services.issue_file(phase)
    reason = audit_reason(
        phase, major_issues_open=majors_calling_for_review(issues), failed_attempts=failed_attempts
    )
    if reason is None:
        return AuditStepOutcome()
    services.emit(AttemptStep(phase=phase_id, attempt=attempt, step="audit", reason=reason))
    code = {}
    for path in parse_unified(diff).paths if diff.strip() else ():
        content = services.git.file_at(tree, path) if tree else None
        if content is not None:
            code[path] = content.decode("utf-8", errors="replace")
    try:
        model = services.model_for(phase, Role.AUDITOR, attempt)
    except ConfigError as error:
        # A key gone since preflight (a resume in another shell): the review did not happen, which
        # the run records as the Auditor's failure rather than ending as Autopack's own bug.
        outcome = AuditOutcome(error=services.redactor.text(str(error)))
    else:
        outcome = await Auditor(model, redactor=services.redactor).audit(
            AuditRequest(
                phase=phase,
                diff=diff,
                verify_summary=verify_summary,
                code=code,
                open_issues=issues.open_issues,
            )
        )
    services.record_issues(phase, audit_issues(outcome, phase, services.run_id))
    majors = [
        finding for finding in outcome.kept if Severity(finding.severity) is not Severity.MINOR
    ]
    services.emit(
        Audited(phase=phase_id, attempt=attempt, findings=len(outcome.kept), majors=len(majors))
    )
    return AuditStepOutcome(
        reason=reason,
        majors=len(majors),
        findings=tuple(
            f"{f.issue_key} ({f.severity}): {f.failure_scenario} Fix: {f.suggested_fix}"
            # The Auditor's patch reaches the code only as the Builder's next attempt, through
            # the same gate as any other change.
            + (f"\nSuggested patch:\n{f.suggested_patch}" if f.suggested_patch else "")
            for f in outcome.kept
        ),
        keys=tuple(f.issue_key for f in outcome.kept),
        error=outcome.error,
    )


def commit(
    services: RunServices,
    phase_id: str,
    attempt: int,
    summary: str,
    audited: AuditStepOutcome,
    needs_approval: bool,
    gated: GateOutcome,
) -> str | None:
    """The phase's commit on the integration branch: exactly the tree its checks passed, once the
    phases ahead of it in the merge train have left it and the branch holds the tree it was
    merged onto. None when it does not (a phase ahead failed, or the branch moved on): the
    attempt is merged and checked again. Found, not repeated, when a resume re-runs it.

    Its trailers say where it came from (run, phase, attempt, category, models, cost, the
    Auditor's verdict, the approval) and a tag `autopack/<run_id>/<phase_id>` marks it.
    """
    phase = services.phase(phase_id)
    database, run_id = services.database, services.run_id
    approval = approval_of(phase, audited, needs_approval)
    services.train.wait_for_front(phase_id)
    with services.integration_lock:
        sha = _landed(services, phase_id)
        if sha is None:
            head = services.git.reset_integration(run_id)
            if services.git.tree_of(head) != services.git.tree_of(gated.head):
                services.train.leave(phase_id)
                return None
            services.git.land_tree(run_id, gated.tree)
            sha = services.git.commit(
                run_id,
                f"{phase.title} [{phase_id}]",
                {
                    "Autopack-Run": run_id,
                    AUTOPACK_TRAILER: phase_id,
                    "Autopack-Attempt": str(attempt),
                    "Autopack-Category": phase.task_category.value,
                    **provenance(services, phase_id, attempt),
                    "Autopack-Auditor": auditor_verdict(audited),
                    "Autopack-Approval": approval,
                },
            )
        services.train.landed(phase_id)
    services.git.tag(phase_tag(run_id, phase_id), sha)
    if not phase.auto_apply:
        set_phase_approval(
            database,
            run_id,
            phase_id,
            Approval.PENDING if needs_approval else Approval.APPROVED,
            by=None if needs_approval else "auditor",
        )
    move_phase(database, run_id, phase_id, PhaseEvent.CI_PASS, f"committed {sha[:12]}")
    resolve_issues(
        services.settings.runs_dir,
        run_id,
        phase,
        fixed_by_landing(services.issue_file(phase), audited),
    )
    if phase.resolves:
        backlog = load_backlog(database, services.strategy.project_id)
        update_phase_issues(
            services.settings.runs_dir,
            run_id,
            phase,
            lambda file: debt_paid(file, backlog, phase.resolves, run_id),
        )
    if summary:
        write_json_atomic(
            services.run_dir / "attempts" / f"{phase_id}-a{attempt}" / "summary.json",
            {"summary": summary, "commit": sha},
        )
    services.emit(
        Committed(phase=phase_id, attempt=attempt, commit=sha, needs_approval=needs_approval)
    )
    return sha


def _landed(services: RunServices, phase_id: str) -> str | None:
    """The phase's commit if it is on the integration branch already (a resumed commit step):
    other phases may have committed on top of it since."""
    base = get_run(services.database, services.run_id).base_commit
    if not base:
        trailers = services.git.head_trailers(services.run_id)
        found = trailers.get(AUTOPACK_TRAILER) == phase_id
        return services.git.integration_worktree(services.run_id).base_commit if found else None
    status = services.git.integration_status(services.run_id, base)
    for landed in status.commits:
        trailers = landed.trailers
        if trailers.get("Autopack-Run") == services.run_id and (
            trailers.get(AUTOPACK_TRAILER) == phase_id
        ):
            return landed.sha
    return None


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
    """An attempt that does not land (nothing of it was written): retry or give the phase up."""
    database, run_id = services.database, services.run_id
    services.train.leave(phase_id)
    services.emit(Rejected(phase=phase_id, attempt=attempt, why=why, last=last))
    if not last:
        event = PhaseEvent.GATE_REJECT if at_gate else PhaseEvent.CI_FAIL
        move_phase(database, run_id, phase_id, event, why[:500])
        return
    move_phase(database, run_id, phase_id, PhaseEvent.FAIL, why[:500])
    write_incident(services, phase_id, attempt, why, incident)
