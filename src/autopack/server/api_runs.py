"""/runs: start, list, read, cancel, resume and promote runs; their strategy, phases and issues.

What a run recorded (integration branch, ledger, metrics, summary, incidents) is in
api_run_records.py.

Every handler calls the same core functions the CLI calls; none re-implements a run's behaviour.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from autopack.config import PROJECT_ID_PATTERN, Settings
from autopack.domain.issues import PhaseIssue
from autopack.domain.plan import ID_PATTERN
from autopack.domain.states import RunState
from autopack.domain.strategy import PhaseStrategy, Strategy
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.errors import NotFound
from autopack.issues.phase_issue_file import (
    PhaseIssueFile,
    phase_issue_file,
    read_phase_issue_file,
)
from autopack.issues.record import record_issues
from autopack.issues.run_issue_index import RunIssueIndex, build_run_index
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.run.cancel import cancel_run
from autopack.run.execute import create_run
from autopack.run.promote import ApprovalRefused, PromotionRefused, approve_phase, promote_run
from autopack.run.runs_queue import NotQueueable, resume_on_queue
from autopack.run.services import RunOptions
from autopack.server.auth import Reader, Writer, may_act_on
from autopack.server.context import ServerContext, context_of
from autopack.server.problems import Problem
from autopack.store.attempts import AttemptRecord, attempts_of_phase
from autopack.store.chains import RunChain
from autopack.store.projects import run_ids_of_projects
from autopack.store.queue import last_heartbeat
from autopack.store.reports import RunListing, list_run_listings, run_listing
from autopack.store.run_status import run_status
from autopack.store.runs import PhaseRecord, RunRecord, TierRecord, get_run
from autopack.store.schema import utc_now
from autopack.store.tokens import TokenInfo
from autopack.workspace.registry import git_for

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, PathParam(pattern=ID_PATTERN, description="A run id, as `GET /runs` lists.")]
PhaseId = Annotated[str, PathParam(pattern=ID_PATTERN)]
TierId = Annotated[str, PathParam(pattern=ID_PATTERN)]
UPLOADS_DIR = "uploaded_plans"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRun(_Body):
    """A plan file inside the project, or the plan's text; how to run it; in which project."""

    project: str | None = Field(
        default=None,
        pattern=PROJECT_ID_PATTERN,
        description="A registered project's id (GET /projects); default: the server's own",
    )
    plan: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Path of a plan file relative to the project root, e.g. comprehensive_plan.md",
    )
    plan_text: str | None = Field(
        default=None,
        min_length=1,
        max_length=500_000,
        description="The plan itself (Markdown, or free-form text for the planner)",
    )
    llm: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="A model alias for every role (default: as routed)",
    )
    no_sandbox: bool = Field(default=False, description="Run checks outside the sandbox")

    @model_validator(mode="after")
    def _one_plan(self) -> StartRun:
        if (self.plan is None) == (self.plan_text is None):
            raise ValueError("give exactly one of plan (a path) and plan_text")
        return self


class RunStarted(BaseModel):
    run_id: str
    state: RunState
    queued: bool
    links: dict[str, str]


class RunPage(BaseModel):
    runs: list[RunListing]
    total: int
    limit: int
    offset: int


class RunView(BaseModel):
    run: RunListing
    base_branch: str | None
    base_commit: str | None
    sandbox: str | None
    tiers: list[TierRecord]
    links: dict[str, str]
    # A part of a plan larger than one run: where it stands in its chain (None on its own).
    chain: RunChain | None = None


class PhaseView(BaseModel):
    run_id: str
    phase: PhaseRecord
    attempts: list[AttemptRecord]
    issues: list[PhaseIssue]


class NewIssue(_Body):
    issue_key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:/-]{0,199}$")
    severity: Severity
    category: str = Field(min_length=1, max_length=100)
    source: IssueSource = IssueSource.PROBE
    summary: str = Field(default="", max_length=2000)
    paths: list[str] = Field(default_factory=list, max_length=50)


class CancelRequest(_Body):
    reason: str = Field(default="cancelled over the API", min_length=1, max_length=500)


class PromoteRequest(_Body):
    into: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


class Promoted(BaseModel):
    run_id: str
    into: str
    head: str


def _links(run_id: str) -> dict[str, str]:
    base = f"/runs/{run_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "strategy": f"{base}/strategy",
        "issues": f"{base}/issues",
        "ledger": f"{base}/ledger",
        "summary": f"{base}/summary",
        "dashboard": f"/ui/runs/{run_id}",
    }


def record_of(context: ServerContext, run_id: str, caller: TokenInfo) -> RunRecord:
    """The run, if the caller's token may see its project; else 404, as if it did not exist."""
    return seen_by(caller, get_run(context.database, run_id))  # NotFound -> 404


def seen_by(caller: TokenInfo, record: RunRecord) -> RunRecord:
    """The run, if the caller's token may see its project; else 404, as if it did not exist."""
    if not caller.sees(record.project_id):
        raise NotFound(f"no run {record.run_id!r}")
    return record


def settings_of_run(context: ServerContext, record: RunRecord) -> Settings:
    """The settings of the run's project: its folders and repository are the run's."""
    return context.settings_of(record.project_id)


def strategy_of(record: RunRecord) -> Strategy:
    return Strategy.model_validate_json(record.strategy_json)


def _inside(root: Path, relative: str) -> Path:
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


async def start_settings(
    context: ServerContext, caller: TokenInfo, project: str | None
) -> tuple[str, Settings]:
    """The project a run is to start in (default: the server's own), if the caller may act there."""
    project_id = project or context.project_id
    may_act_on(caller, project_id)
    try:
        return project_id, await run_in_threadpool(context.settings_of, project_id)
    except NotFound as missing:
        raise Problem(422, "Invalid input", f"project: {missing}") from None


def uploaded_plan_file(settings: Settings, suffix: str) -> Path:
    """A fresh file for a plan sent in a request body; its suffix says how it is read."""
    plan_file = settings.runs_dir / UPLOADS_DIR / f"{secrets.token_hex(8)}{suffix}"
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    return plan_file


async def queue_run(
    settings: Settings, plan_file: Path, options: RunOptions, *, uploaded: bool
) -> str:
    """Phase 0 and the frozen strategy now; the run itself queued for a worker."""
    try:
        return await run_in_threadpool(create_run, settings, plan_file, options, queue=True)
    except BaseException:
        if uploaded:  # a refused plan is not kept
            plan_file.unlink(missing_ok=True)
        raise


@router.post("", status_code=202, response_model=RunStarted)
async def start_run(
    body: StartRun, request: Request, response: Response, caller: Writer
) -> RunStarted:
    """Phase 0 and the frozen strategy now, with the project's settings; the run itself is queued
    for a worker."""
    context = context_of(request)
    _project_id, settings = await start_settings(context, caller, body.project)
    if body.llm is not None and body.llm not in settings.aliases:
        raise Problem(
            422,
            "Invalid input",
            f"llm: unknown model alias {body.llm!r} (known: {', '.join(sorted(settings.aliases))})",
        )
    uploaded = body.plan is None
    if body.plan is not None:
        plan_file = _inside(settings.repo_root, body.plan)
    else:
        # Markdown either way: text with no tier headings goes to the planner (plan/load.py).
        plan_file = uploaded_plan_file(settings, ".md")
        # Stored masked (plan/mask.py): the file outlives the request, and a key must not.
        masked = mask_plan_text(body.plan_text or "", plan_redactor(settings.aliases))[0]
        plan_file.write_text(masked, encoding="utf-8")
    options = RunOptions(llm=body.llm, no_sandbox=body.no_sandbox)
    run_id = await queue_run(settings, plan_file, options, uploaded=uploaded)
    response.headers["Location"] = f"/runs/{run_id}"
    return RunStarted(
        run_id=run_id,
        state=record_of(context, run_id, caller).state,
        queued=True,
        links=_links(run_id),
    )


@router.get("", response_model=RunPage)
def list_runs(
    request: Request,
    caller: Reader,
    project: Annotated[
        str | None, Query(pattern=PROJECT_ID_PATTERN, description="Only this project's runs")
    ] = None,
    state: Annotated[list[RunState] | None, Query(description="Only runs in these states")] = None,
    created_after: Annotated[datetime | None, Query(description="Created at or after")] = None,
    created_before: Annotated[datetime | None, Query(description="Created before")] = None,
    failure: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
            description="A failure code or family, e.g. budget or review.cancelled",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunPage:
    context = context_of(request)
    run_ids = None
    if project is None and caller.projects is not None:
        # A limited token lists its projects' runs only.
        run_ids = run_ids_of_projects(context.database, caller.projects)
    elif project is not None and not caller.sees(project):
        run_ids = []
    runs, total = list_run_listings(
        context.database,
        project_id=project,
        run_ids=run_ids,
        states=state or (),
        created_after=_aware(created_after),
        created_before=_aware(created_before),
        failure_code=failure,
        limit=limit,
        offset=offset,
    )
    return RunPage(runs=runs, total=total, limit=limit, offset=offset)


def _aware(moment: datetime | None) -> datetime | None:
    """Query times without a zone are UTC, as the store's are."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/{run_id}", response_model=RunView)
def get_run_view(run_id: RunId, request: Request, caller: Reader) -> RunView:
    status = run_status(context_of(request).database, run_id)  # NotFound -> 404
    record = seen_by(caller, status.record)
    return RunView(
        run=status.listing,
        base_branch=record.base_branch,
        base_commit=record.base_commit,
        sandbox=record.sandbox,
        tiers=record.tiers,
        links=_links(run_id),
        chain=status.chain,
    )


@router.get("/{run_id}/strategy", response_model=Strategy)
def get_strategy(run_id: RunId, request: Request, caller: Reader) -> Strategy:
    return strategy_of(record_of(context_of(request), run_id, caller))


def _phase_strategy(record: RunRecord, phase_id: str) -> PhaseStrategy:
    phase = next((p for p in strategy_of(record).phases if p.phase_id == phase_id), None)
    if phase is None:
        raise Problem(404, "Not found", f"no phase {phase_id!r} in run {record.run_id}")
    return phase


def _phase_file(context: ServerContext, record: RunRecord, phase_id: str) -> PhaseIssueFile:
    phase = _phase_strategy(record, phase_id)
    return phase_issue_file(
        settings_of_run(context, record).runs_dir,
        record.run_id,
        phase.tier_id,
        phase_id,
        phase.position,
    )


@router.get("/{run_id}/phases/{phase_id}", response_model=PhaseView)
def get_phase(run_id: RunId, phase_id: PhaseId, request: Request, caller: Reader) -> PhaseView:
    context = context_of(request)
    record = record_of(context, run_id, caller)
    phase = next((p for t in record.tiers for p in t.phases if p.phase_id == phase_id), None)
    if phase is None:
        raise Problem(404, "Not found", f"no phase {phase_id!r} in run {run_id}")
    return PhaseView(
        run_id=run_id,
        phase=phase,
        attempts=attempts_of_phase(context.database, run_id, phase_id),
        issues=list(_phase_file(context, record, phase_id).issues),
    )


@router.post("/{run_id}/phases/{phase_id}/issues", status_code=201, response_model=PhaseIssue)
def record_issue(
    run_id: RunId, phase_id: PhaseId, body: NewIssue, request: Request, caller: Writer
) -> PhaseIssue:
    """An issue seen in the phase (by a person or another tool), merged by issue_key."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    phase = _phase_strategy(record, phase_id)
    issue = PhaseIssue(
        issue_key=body.issue_key,
        severity=body.severity,
        effective_severity=body.severity,
        source=body.source,
        category=body.category,
        first_seen_run=run_id,
        last_seen_run=run_id,
        issue_state=IssueState.OPEN,
        summary=body.summary,
        paths=tuple(body.paths),
    )
    # The same locked read-merge-write as the run's own issues: concurrent posts lose nothing.
    recorded = record_issues(settings_of_run(context, record).runs_dir, run_id, phase, [issue])
    return next(i for i in recorded.file.issues if i.issue_key == body.issue_key)


@router.get("/{run_id}/issues", response_model=RunIssueIndex)
def run_issues(run_id: RunId, request: Request, caller: Reader) -> RunIssueIndex:
    """The run's issues by issue_key, folded from its phase files (so issues recorded over the
    API after the run ended show too)."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    run_dir = settings_of_run(context, record).runs_dir / run_id
    files = [read_phase_issue_file(path) for path in sorted(run_dir.glob("phase_*_issues.json"))]
    return build_run_index(run_id, files)


@router.post("/{run_id}/cancel", status_code=202, response_model=RunListing)
async def cancel(
    run_id: RunId, request: Request, caller: Writer, body: CancelRequest | None = None
) -> RunListing:
    """End the run with a reason: now if no executor has it, else before its next attempt."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    settings = settings_of_run(context, record)
    reason = f"{(body or CancelRequest()).reason} (by token {caller.name})"
    await run_in_threadpool(cancel_run, settings, context.database, run_id, reason)
    listing = run_listing(context.database, run_id)
    assert listing is not None
    return listing


@router.post("/{run_id}/resume", status_code=202, response_model=RunListing)
def resume(run_id: RunId, request: Request, caller: Writer) -> RunListing:
    """Queue a run whose executor died (or was interrupted) for a worker to carry on from its last
    checkpoint."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
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
    listing = run_listing(context.database, run_id)
    assert listing is not None
    return listing


@router.post("/{run_id}/promote", response_model=Promoted)
def promote(
    run_id: RunId, request: Request, caller: Writer, body: PromoteRequest | None = None
) -> Promoted:
    """Merge the integration branch into its base (or `into`), if the run is eligible."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    git = git_for(settings_of_run(context, record))
    try:
        target, head = promote_run(context.database, git, run_id, (body or PromoteRequest()).into)
    except PromotionRefused as refused:
        raise Problem(
            409, "Conflict", str(refused), reasons=list(refused.decision.reasons)
        ) from None
    return Promoted(run_id=run_id, into=target, head=head)


@router.post("/{run_id}/phases/{phase_id}/approve", response_model=PhaseRecord)
def approve(run_id: RunId, phase_id: PhaseId, request: Request, caller: Writer) -> PhaseRecord:
    """Approve a committed phase with auto_apply = false for promotion (recorded with the token's
    name and the time; the first approval stands)."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    try:
        return approve_phase(
            context.database,
            settings_of_run(context, record).runs_dir,
            run_id,
            phase_id,
            by=f"token {caller.name}",
        )
    except ApprovalRefused as refused:
        raise Problem(409, "Conflict", str(refused)) from None
