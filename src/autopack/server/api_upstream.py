"""The upstream system's API (hshk99/Autopack), answered by today's core: a migration aid.

What keeps its meaning is mapped onto the same functions the rest of the API calls, under the same
tokens and project limits: starting a run goes through `POST /runs`'s create-and-queue path,
reports and metrics read the same store. What cannot keep its meaning (a client posting a
Builder's or Auditor's result, or setting a phase's state) is refused with a `410` problem of
type `upstream-moved` naming what to use instead (`MOVED`, below). docs/migration-from-upstream.md
is the guide; upstream_shapes.py and upstream_views.py cite the upstream commit and files.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from autopack.domain.issues import ISSUE_KEY_PATTERN, BacklogEntry, PhaseIssue
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Complexity, IssueSource, IssueState, Severity
from autopack.issues.phase_issue_file import PhaseIssueFile, read_phase_issue_file
from autopack.issues.record import record_issues
from autopack.issues.run_issue_index import RunIndexEntry, build_run_index
from autopack.plan.mask import mask_plan_data, plan_redactor
from autopack.run.events import Audited
from autopack.run.services import RunOptions
from autopack.server import upstream_reports, upstream_views
from autopack.server.api_reports import ProjectQuery, visible_project
from autopack.server.api_run_records import integration
from autopack.server.api_runs import (
    PhaseId,
    RunId,
    list_runs,
    record_of,
    settings_of_run,
    strategy_of,
)
from autopack.server.auth import Reader, Writer, may_act_on
from autopack.server.context import ServerContext, context_of
from autopack.server.problems import Problem
from autopack.server.run_actions import queue_run, start_settings, uploaded_plan_file
from autopack.server.upstream_builder import (
    BuilderResultTaken,
    UpstreamBuilderResult,
    offer_of_phase,
    take_builder_result,
)
from autopack.server.upstream_shapes import RunStartRequest, plan_document, run_settings
from autopack.store.engine import Database
from autopack.store.issue_records import load_backlog
from autopack.store.progress import progress_after
from autopack.store.reports import list_run_listings
from autopack.store.runs import RunRecord, get_run

router = APIRouter(tags=["upstream"], deprecated=True)


@dataclass(frozen=True)
class Moved:
    detail: str
    use_instead: tuple[str, ...]


REMOTE_BUILDER = (
    "POST /builders/offers/{offer_id}/claim",
    "POST /builders/offers/{offer_id}/submission",
)
# What each refused upstream endpoint's clients use now: the one place to change when it changes.
MOVED: dict[str, Moved] = {
    "builder_result": Moved(
        "this phase has no attempt on offer to a Builder outside the run: only a phase with "
        "`builder: remote` in the plan takes a result from outside, while an attempt of it is on "
        "offer; the run then verifies and audits it like any other attempt",
        REMOTE_BUILDER,
    ),
    "auditor_request": Moved(
        "the run's own Auditor reviews every attempt of every phase; no review is requested",
        ("GET /runs/{run_id}/phases/{phase_id}",),
    ),
    "auditor_result": Moved(
        "the run's own Auditor reviews every attempt and its verdict is the run's; a finding of "
        "yours is recorded as an issue of the phase, and a committed phase that waits for a "
        "person is approved",
        (
            "POST /runs/{run_id}/phases/{phase_id}/issues",
            "POST /runs/{run_id}/phases/{phase_id}/approve",
        ),
    ),
    "update_status": Moved(
        "run, tier and phase states are moved by the run's own state machine and cannot be set; "
        "end a run with cancel, carry on an interrupted one with resume, pass a phase that waits "
        "for approval with approve",
        (
            "POST /runs/{run_id}/cancel",
            "POST /runs/{run_id}/resume",
            "POST /runs/{run_id}/phases/{phase_id}/approve",
        ),
    ),
}
MOVED_STATUS = 410
AUDITED = Audited.model_fields["kind"].default
# The problem type follows from the title: https://autopack.dev/problems/upstream-moved
MOVED_TITLE = "Upstream moved"

# Upstream issue sources that are ours under another name.
UPSTREAM_SOURCES: dict[str, IssueSource] = {"cursor_self_doubt": IssueSource.BUILDER}


def _moved(endpoint: str) -> Problem:
    moved = MOVED[endpoint]
    return Problem(
        MOVED_STATUS,
        MOVED_TITLE,
        f"{endpoint}: {moved.detail}; use {' or '.join(moved.use_instead)}",
        upstream_endpoint=endpoint,
        use_instead=list(moved.use_instead),
    )


class UpstreamIntegrationStatus(BaseModel):
    branch: str
    commits_ahead_of_main: int = Field(description="Commits the run made since its base commit")
    current_commit: str
    base_commit: str


class UpstreamIssueRecorded(BaseModel):
    message: str
    phase_file: PhaseIssueFile
    run_index_entry: RunIndexEntry | None
    project_backlog_entry: BacklogEntry | None


def _facts(context: ServerContext, record: RunRecord) -> upstream_views.RunFacts:
    runs_dir = settings_of_run(context, record).runs_dir
    return upstream_views.facts_of(context.database, runs_dir, record)


@router.post("/runs/start", status_code=201, response_model=upstream_views.UpstreamRunView)
async def start(
    body: RunStartRequest,
    request: Request,
    response: Response,
    caller: Writer,
    project: ProjectQuery = None,
) -> upstream_views.UpstreamRunView:
    """Upstream's RunStartRequest, as a JSON plan through `POST /runs`'s path: the same checks,
    the same queue. The run gets its own id (`id`); `run.run_id` becomes its title."""
    context = context_of(request)
    settings = await run_in_threadpool(start_settings, context, caller, project)
    document, _ = mask_plan_data(plan_document(body), plan_redactor(settings.aliases))
    plan_file = uploaded_plan_file(settings, ".json")
    plan_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
    run_id = await run_in_threadpool(
        functools.partial(
            queue_run, run_settings(settings, body.run), plan_file, RunOptions(), uploaded=True
        )
    )
    response.headers["Location"] = f"/runs/{run_id}"

    def view() -> upstream_views.UpstreamRunView:
        facts = _facts(context, record_of(context, run_id, caller))
        return upstream_views.run_view(context.database, facts, body.run.run_id)

    return await run_in_threadpool(view)


@router.get("/runs/{run_id}/integration_status", response_model=UpstreamIntegrationStatus)
def integration_status(
    run_id: RunId, request: Request, caller: Reader
) -> UpstreamIntegrationStatus:
    """The run's integration branch; `main` upstream is the run's base commit here."""
    status = integration(run_id, request, caller)
    return UpstreamIntegrationStatus(
        branch=status.branch,
        commits_ahead_of_main=len(status.commits),
        current_commit=status.head_commit,
        base_commit=status.base_commit,
    )


@router.get("/metrics/runs", response_model=upstream_views.UpstreamRunMetricsPage)
def metrics_runs(
    request: Request,
    caller: Reader,
    status: Annotated[RunState | None, Query(description="Only runs in this state")] = None,
    project: ProjectQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> upstream_views.UpstreamRunMetricsPage:
    """Runs the token sees, newest first; `total_runs` counts every match, `runs` is one page."""
    context = context_of(request)
    page = list_runs(
        request,
        caller,
        project=project,
        state=[status] if status else None,
        created_after=None,
        created_before=None,
        failure=None,
        limit=limit,
        offset=offset,
    )
    runs = [
        upstream_views.run_metrics(_facts(context, get_run(context.database, listing.run_id)))
        for listing in page.runs
    ]
    return upstream_views.UpstreamRunMetricsPage(total_runs=page.total, runs=runs)


@router.get("/metrics/tiers/{run_id}", response_model=upstream_views.UpstreamTierMetricsPage)
def metrics_tiers(
    run_id: RunId, request: Request, caller: Reader
) -> upstream_views.UpstreamTierMetricsPage:
    context = context_of(request)
    facts = _facts(context, record_of(context, run_id, caller))
    return upstream_views.tier_metrics(context.database, facts)


@router.get(
    "/reports/issue_backlog_summary", response_model=upstream_reports.UpstreamBacklogSummary
)
def issue_backlog_summary(
    request: Request, caller: Reader, project: ProjectQuery = None
) -> upstream_reports.UpstreamBacklogSummary:
    context = context_of(request)
    project_id = visible_project(context, caller, project)
    return upstream_reports.backlog_summary(project_id, load_backlog(context.database, project_id))


@router.get("/reports/budget_analysis", response_model=upstream_reports.UpstreamBudgetAnalysis)
def budget_analysis(
    request: Request,
    caller: Reader,
    project: ProjectQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> upstream_reports.UpstreamBudgetAnalysis:
    """The project's runs that ended DONE_FAILED_BUDGET_EXHAUSTED, newest first (at most
    `limit`; `total_budget_failures` counts them all)."""
    context = context_of(request)
    project_id = visible_project(context, caller, project)
    listings, total = list_run_listings(
        context.database,
        project_id=project_id,
        states=(RunState.DONE_FAILED_BUDGET_EXHAUSTED,),
        limit=limit,
    )
    failures = [
        upstream_reports.budget_failure(_facts(context, get_run(context.database, r.run_id)))
        for r in listings
    ]
    return upstream_reports.budget_analysis(project_id, total, failures)


def _reviews(database: Database, run_id: str) -> dict[str, int]:
    """Auditor reviews per phase, from the run's `audited` events (an attempt counted once, should
    a recovered run report it again)."""
    reviewed: set[tuple[str, int]] = set()
    after = 0
    while batch := progress_after(database, after, run_id=run_id):
        reviewed |= {
            (str(e.details.get("phase")), int(e.details.get("attempt", 0)))
            for e in batch
            if e.kind == AUDITED
        }
        after = batch[-1].id
    counts: dict[str, int] = {}
    for phase_id, _attempt in reviewed:
        counts[phase_id] = counts.get(phase_id, 0) + 1
    return counts


@router.get("/reports/run_summary/{run_id}", response_model=upstream_views.UpstreamRunSummary)
def run_summary(
    run_id: RunId, request: Request, caller: Reader
) -> upstream_views.UpstreamRunSummary:
    context = context_of(request)
    record = record_of(context, run_id, caller)
    auditor_attempts = _reviews(context.database, run_id)
    return upstream_views.run_summary(context.database, _facts(context, record), auditor_attempts)


def _source(value: str) -> IssueSource:
    known = UPSTREAM_SOURCES.get(value) or next((s for s in IssueSource if s.value == value), None)
    if known is None:
        names = sorted([*(s.value for s in IssueSource), *UPSTREAM_SOURCES])
        raise Problem(
            422, "Invalid input", f"source: {value[:80]!r} is not one of {', '.join(names)}"
        )
    return known


@router.post("/runs/{run_id}/phases/{phase_id}/record_issue", response_model=UpstreamIssueRecorded)
def record_issue(
    run_id: RunId,
    phase_id: PhaseId,
    request: Request,
    caller: Writer,
    issue_key: Annotated[str, Query(pattern=ISSUE_KEY_PATTERN)],
    severity: Annotated[Severity, Query()],
    source: Annotated[str, Query(min_length=1, max_length=100)],
    category: Annotated[str, Query(min_length=1, max_length=100)],
    task_category: Annotated[str | None, Query(max_length=100)] = None,
    complexity: Annotated[Complexity | None, Query()] = None,
    evidence_refs: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> UpstreamIssueRecorded:
    """The issue merged into the phase's issue file by issue_key, as the run's own are."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    phase = next((p for p in strategy_of(record).phases if p.phase_id == phase_id), None)
    if phase is None:
        raise Problem(404, "Not found", f"Phase {phase_id} not found in run {run_id}")
    refs = tuple(ref[:500] for ref in evidence_refs or ())
    try:
        issue = PhaseIssue(
            issue_key=issue_key,
            severity=severity,
            effective_severity=severity,
            source=_source(source),
            category=category,
            task_category=task_category or phase.task_category,
            complexity=complexity or phase.complexity,
            first_seen_run=run_id,
            last_seen_run=run_id,
            issue_state=IssueState.OPEN,
            evidence_refs=refs,
        )
    except ValueError as invalid:  # pydantic's, for an unknown task_category
        raise Problem(422, "Invalid input", f"task_category: {str(invalid)[:300]}") from None
    runs_dir = settings_of_run(context, record).runs_dir
    recorded = record_issues(runs_dir, run_id, phase, [issue])
    files = [
        read_phase_issue_file(path)
        for path in sorted(Path(runs_dir / run_id).glob("phase_*_issues.json"))
    ]
    index = build_run_index(run_id, files)
    backlog = load_backlog(context.database, record.project_id)
    return UpstreamIssueRecorded(
        message=f"Issue {issue_key} recorded",
        phase_file=recorded.file,
        run_index_entry=next((e for e in index.entries if e.issue_key == issue_key), None),
        project_backlog_entry=next((e for e in backlog if e.issue_key == issue_key), None),
    )


REFUSED: dict[int | str, dict[str, Any]] = {
    MOVED_STATUS: {"description": "Refused: the problem names what to use instead"}
}


@router.post(
    "/runs/{run_id}/phases/{phase_id}/builder_result",
    response_model=BuilderResultTaken,
    responses=REFUSED,
)
def builder_result(
    run_id: RunId, phase_id: PhaseId, body: UpstreamBuilderResult, request: Request, caller: Writer
) -> BuilderResultTaken:
    """The result claims the phase's attempt on offer and submits its patch; a phase whose
    builder is not `remote`, or has no attempt on offer now, is refused (410) as moved."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    may_act_on(caller, record.project_id)
    offer = offer_of_phase(context.database, run_id, phase_id)
    if offer is None:
        raise _moved("builder_result")
    return take_builder_result(context.database, offer, body)


@router.post("/runs/{run_id}/phases/{phase_id}/auditor_request", responses=REFUSED)
def auditor_request(run_id: RunId, phase_id: PhaseId, _: Writer) -> None:
    raise _moved("auditor_request")


@router.post("/runs/{run_id}/phases/{phase_id}/auditor_result", responses=REFUSED)
def auditor_result(run_id: RunId, phase_id: PhaseId, _: Writer) -> None:
    raise _moved("auditor_result")


@router.post("/runs/{run_id}/phases/{phase_id}/update_status", responses=REFUSED)
def update_status(run_id: RunId, phase_id: PhaseId, _: Writer) -> None:
    raise _moved("update_status")
