"""Health, the project backlog, and the reports: issue backlog summary and budget analysis."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy import text

from autopack import __version__
from autopack.config import PROJECT_ID_PATTERN
from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import ID_PATTERN
from autopack.domain.states import RunState
from autopack.domain.vocabulary import IssueState, Severity
from autopack.errors import NotFound
from autopack.server.auth import Reader
from autopack.server.context import ServerContext, context_of
from autopack.server.problems import Problem
from autopack.store.engine import Database
from autopack.store.issue_records import load_backlog
from autopack.store.projects import get_project, run_ids_of_projects
from autopack.store.queue import queue_depth
from autopack.store.reports import RunListing, Spend, SpendSlice, list_run_listings, spend_by
from autopack.store.tokens import TokenInfo

router = APIRouter()

BUDGET_FAILURE_PREFIX = "budget."


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    worker: str
    queue_depth: int


class BacklogSummary(BaseModel):
    project_id: str
    open: int
    resolved: int
    aged_into_major: int
    top_by_runs: list[BacklogEntry]
    top_by_tiers: list[BacklogEntry]
    top_by_occurrences: list[BacklogEntry]


class BudgetAnalysis(BaseModel):
    project_id: str
    runs_ended_on_caps: list[RunListing]
    top_tiers: list[SpendSlice]
    top_slices: list[SpendSlice]
    by_model: list[SpendSlice]


@router.get("/health", tags=["health"], response_model=Health)
def health() -> Health:
    """Liveness: the process answers. No token needed."""
    return Health(status="ok", version=__version__)


@router.get("/health/ready", tags=["health"], response_model=Readiness)
def ready(request: Request) -> Readiness:
    """Readiness: the database answers and, where this process runs one, the worker lives."""
    context = context_of(request)
    try:
        with context.database.reading() as session:
            session.execute(text("SELECT 1"))
        depth = queue_depth(context.database)
    except Exception as error:
        raise Problem(
            503, "Unavailable", f"the database does not answer: {type(error).__name__}"
        ) from None
    alive = context.worker_alive
    if alive is False:
        raise Problem(503, "Unavailable", "the in-process worker has stopped")
    return Readiness(
        status="ready",
        database=context.database.dialect,
        worker="in-process" if alive else "external",
        queue_depth=depth,
    )


ProjectQuery = Annotated[
    str | None,
    Query(
        pattern=PROJECT_ID_PATTERN,
        description="A project's id (default: the server's own, or a limited token's first)",
    ),
]


def visible_project(context: ServerContext, caller: TokenInfo, project_id: str | None) -> str:
    """The project asked for (by default the server's own, or the first of a limited token's):
    404 when it does not exist or the token may not see it, as if it did not exist."""
    if project_id is None:
        project_id = context.project_id
        if not caller.sees(project_id) and caller.projects:
            project_id = caller.projects[0]
    if not caller.sees(project_id):
        raise NotFound(f"no project {project_id!r} (see GET /projects)")
    get_project(context.database, project_id)  # NotFound -> 404
    return project_id


def _project_spend(database: Database, project_id: str, dimension: str) -> list[SpendSlice]:
    """Spend of one project's runs by a dimension, biggest first: summed per run, since the
    ledger's own grouping spans every project in the database."""
    totals: dict[str, Spend] = {}
    for run_id in run_ids_of_projects(database, [project_id]):
        for item in spend_by(database, dimension, run_id=run_id):
            # Tiers are named run/tier across runs, as the ledger's own grouping names them.
            key = f"{run_id}/{item.key}" if dimension == "tier" else item.key
            seen = totals.get(key, Spend())
            totals[key] = Spend(
                calls=seen.calls + item.spend.calls,
                tokens=seen.tokens + item.spend.tokens,
                usd=seen.usd + item.spend.usd,
            )
    slices = [SpendSlice(key=key, spend=spend) for key, spend in totals.items()]
    return sorted(slices, key=lambda s: (-s.spend.usd, -s.spend.tokens, s.key))


@router.get("/projects/{project_id}/backlog", tags=["issues"], response_model=list[BacklogEntry])
def backlog(
    project_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
    request: Request,
    caller: Reader,
    state: Annotated[IssueState | None, Query()] = None,
) -> list[BacklogEntry]:
    """Every issue_key the project's runs have seen, with its age and effective severity."""
    context = context_of(request)
    entries = load_backlog(context.database, visible_project(context, caller, project_id))
    return [e for e in entries if state is None or e.issue_state is state]


@router.get("/reports/backlog", tags=["reports"], response_model=BacklogSummary)
def backlog_report(
    request: Request,
    caller: Reader,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
    project: ProjectQuery = None,
) -> BacklogSummary:
    """Which issue keys recur most in a project: by runs, by tiers and by occurrences."""
    context = context_of(request)
    project_id = visible_project(context, caller, project)
    entries = load_backlog(context.database, project_id)
    open_entries = [e for e in entries if e.issue_state is IssueState.OPEN]
    return BacklogSummary(
        project_id=project_id,
        open=len(open_entries),
        resolved=len(entries) - len(open_entries),
        aged_into_major=sum(
            1
            for e in open_entries
            if e.severity is Severity.MINOR and e.effective_severity is Severity.MAJOR
        ),
        top_by_runs=sorted(open_entries, key=lambda e: (-e.age_in_runs, e.issue_key))[:top],
        top_by_tiers=sorted(open_entries, key=lambda e: (-e.age_in_tiers, e.issue_key))[:top],
        top_by_occurrences=sorted(open_entries, key=lambda e: (-e.occurrence_count, e.issue_key))[
            :top
        ],
    )


@router.get("/reports/budget", tags=["reports"], response_model=BudgetAnalysis)
def budget_report(
    request: Request,
    caller: Reader,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
    project: ProjectQuery = None,
) -> BudgetAnalysis:
    """A project's runs that ended on budget caps, and which tiers and category:complexity slices
    spent most."""
    context = context_of(request)
    project_id = visible_project(context, caller, project)
    runs, _total = list_run_listings(
        context.database,
        project_id=project_id,
        states=(RunState.DONE_FAILED_BUDGET_EXHAUSTED,),
        limit=top,
    )
    database = context.database
    return BudgetAnalysis(
        project_id=project_id,
        runs_ended_on_caps=[
            r for r in runs if r.failure and r.failure.code.startswith(BUDGET_FAILURE_PREFIX)
        ],
        top_tiers=_project_spend(database, project_id, "tier")[:top],
        top_slices=_project_spend(database, project_id, "category")[:top],
        by_model=_project_spend(database, project_id, "model")[:top],
    )
