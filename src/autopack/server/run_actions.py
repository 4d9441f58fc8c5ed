"""What the REST API and the MCP server do to runs on a token's behalf, written once.

Each function checks what the caller's token may see, then calls the core functions the CLI
calls; refusals are Problems (the API answers them as problem documents, the MCP server as tool
errors). Which scope a caller needs is the caller's business: server/auth.py says it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from autopack.config import Settings
from autopack.domain.strategy import Strategy
from autopack.errors import NotFound
from autopack.issues.phase_issue_file import read_phase_issue_file
from autopack.issues.run_issue_index import RunIssueIndex, build_run_index
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.run.execute import create_run
from autopack.run.promote import ApprovalRefused, PromotionRefused, approve_phase, promote_run
from autopack.run.runs_queue import NotQueueable, resume_on_queue
from autopack.run.services import RunOptions
from autopack.server.auth import may_act_on
from autopack.server.context import ServerContext
from autopack.server.problems import Problem
from autopack.store.projects import run_ids_of_projects
from autopack.store.queue import last_heartbeat
from autopack.store.runs import PhaseRecord, RunRecord, get_run
from autopack.store.schema import utc_now
from autopack.store.tokens import TokenInfo
from autopack.workspace.registry import git_for

UPLOADS_DIR = "uploaded_plans"


def record_of(context: ServerContext, run_id: str, caller: TokenInfo) -> RunRecord:
    """The run, if the caller's token may see its project; else NotFound, as if it did not
    exist."""
    return seen_by(caller, get_run(context.database, run_id))


def seen_by(caller: TokenInfo, record: RunRecord) -> RunRecord:
    """The run, if the caller's token may see its project; else NotFound, as if it did not
    exist."""
    if not caller.sees(record.project_id):
        raise NotFound(f"no run {record.run_id!r}")
    return record


def settings_of_run(context: ServerContext, record: RunRecord) -> Settings:
    """The settings of the run's project: its folders and repository are the run's."""
    return context.settings_of(record.project_id)


def strategy_of(record: RunRecord) -> Strategy:
    return Strategy.model_validate_json(record.strategy_json)


def plan_inside(root: Path, relative: str) -> Path:
    """`relative` resolved under `root`, refusing anything that would leave it."""
    if any(ord(char) < 32 for char in relative) or Path(relative).is_absolute():
        raise Problem(422, "Invalid input", "plan: must be a path relative to the project root")
    try:
        resolved = (root / relative).resolve()
        if not resolved.is_relative_to(root.resolve()):
            raise Problem(422, "Invalid input", "plan: the path leaves the project root")
        found = resolved.is_file()
    except OSError as error:  # a name over the filesystem's limits, a loop of links
        raise Problem(
            422, "Invalid input", f"plan: {relative[:80]!r} cannot be opened: {error.strerror}"
        ) from None
    if not found:
        raise Problem(422, "Invalid input", f"plan: no file {relative!r} in the project")
    return resolved


def start_run(
    context: ServerContext,
    caller: TokenInfo,
    *,
    project: str | None,
    plan: str | None,
    plan_text: str | None,
    llm: str | None,
    no_sandbox: bool,
) -> str:
    """Phase 0 and the frozen strategy now, with the project's settings; the run itself is queued
    for a worker. Exactly one of `plan` (a path in the project) and `plan_text`."""
    if (plan is None) == (plan_text is None):
        raise Problem(422, "Invalid input", "give exactly one of plan (a path) and plan_text")
    settings = start_settings(context, caller, project)
    if llm is not None and llm not in settings.aliases:
        raise Problem(
            422,
            "Invalid input",
            f"llm: unknown model alias {llm!r} (known: {', '.join(sorted(settings.aliases))})",
        )
    if plan is not None:
        plan_file = plan_inside(settings.repo_root, plan)
    else:
        # Markdown either way: text with no tier headings goes to the planner (plan/load.py).
        plan_file = uploaded_plan_file(settings, ".md")
        # Stored masked (plan/mask.py): the file outlives the request, and a key must not.
        masked = mask_plan_text(plan_text or "", plan_redactor(settings.aliases))[0]
        plan_file.write_text(masked, encoding="utf-8")
    options = RunOptions(llm=llm, no_sandbox=no_sandbox)
    return queue_run(settings, plan_file, options, uploaded=plan is None)


def start_settings(context: ServerContext, caller: TokenInfo, project: str | None) -> Settings:
    """The settings of the project a run is to start in (default: the server's own), if the
    caller may act there."""
    project_id = project or context.project_id
    may_act_on(caller, project_id)
    try:
        return context.settings_of(project_id)
    except NotFound as missing:
        raise Problem(422, "Invalid input", f"project: {missing}") from None


def uploaded_plan_file(settings: Settings, suffix: str) -> Path:
    """A fresh file for a plan sent in a request; its suffix says how it is read."""
    plan_file = settings.runs_dir / UPLOADS_DIR / f"{secrets.token_hex(8)}{suffix}"
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    return plan_file


def queue_run(settings: Settings, plan_file: Path, options: RunOptions, *, uploaded: bool) -> str:
    """Phase 0 and the frozen strategy now; the run itself queued for a worker."""
    try:
        return create_run(settings, plan_file, options, queue=True)
    except BaseException:
        if uploaded:  # a refused plan is not kept
            plan_file.unlink(missing_ok=True)
        raise


def visible_run_ids(
    context: ServerContext, caller: TokenInfo, project: str | None
) -> list[str] | None:
    """The runs a listing may show the caller: None for no limit."""
    if project is None and caller.projects is not None:
        # A limited token lists its projects' runs only.
        return run_ids_of_projects(context.database, caller.projects)
    if project is not None and not caller.sees(project):
        return []
    return None


def issue_index(context: ServerContext, record: RunRecord) -> RunIssueIndex:
    """The run's issues by issue_key, folded from its phase files (so issues recorded after the
    run ended show too)."""
    run_dir = settings_of_run(context, record).runs_dir / record.run_id
    files = [read_phase_issue_file(path) for path in sorted(run_dir.glob("phase_*_issues.json"))]
    return build_run_index(record.run_id, files)


def resume_run(context: ServerContext, record: RunRecord) -> None:
    """Queue a run whose executor died (or was interrupted) for a worker to carry on from its last
    checkpoint; 409 while it ended or a live executor has it."""
    run_id = record.run_id
    if record.state.is_terminal:
        raise Problem(409, "Conflict", f"run {run_id} already ended {record.state.value}")
    beat = last_heartbeat(context.database, run_id)
    stale_after = timedelta(seconds=context.settings.runtime.stale_seconds)
    alive = beat is not None and utc_now() - beat < stale_after
    if alive and record.interrupted_at is None:  # an interrupted executor beats no more
        raise Problem(
            409, "Conflict", f"run {run_id} is being executed (heartbeat {beat:%H:%M:%S})"
        )
    try:
        resume_on_queue(settings_of_run(context, record), context.database, run_id)
    except NotQueueable as refused:
        raise Problem(409, "Conflict", str(refused)) from None


def promote(context: ServerContext, record: RunRecord, into: str | None) -> tuple[str, str]:
    """Merge the integration branch into its base (or `into`): the branch and its new head."""
    git = git_for(settings_of_run(context, record))
    try:
        return promote_run(context.database, git, record.run_id, into)
    except PromotionRefused as refused:
        raise Problem(
            409, "Conflict", str(refused), reasons=list(refused.decision.reasons)
        ) from None


def approve(context: ServerContext, record: RunRecord, phase_id: str, by: str) -> PhaseRecord:
    """Approve a committed phase with auto_apply = false for promotion."""
    try:
        return approve_phase(
            context.database,
            settings_of_run(context, record).runs_dir,
            record.run_id,
            phase_id,
            by=by,
        )
    except ApprovalRefused as refused:
        raise Problem(409, "Conflict", str(refused)) from None
