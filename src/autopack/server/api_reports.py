"""Health, the project backlog, and the reports: issue backlog summary and budget analysis."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy import text

from autopack import __version__
from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import ID_PATTERN
from autopack.domain.states import RunState
from autopack.domain.vocabulary import IssueState, Severity
from autopack.server.auth import Reader
from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.issue_records import load_backlog
from autopack.store.queue import queue_depth
from autopack.store.reports import RunListing, SpendSlice, list_run_listings, spend_by

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


def _project(request: Request, project_id: str) -> str:
    context = context_of(request)
    if project_id != context.project_id:
        raise Problem(404, "Not found", f"this server serves project {context.project_id!r} only")
    return project_id


@router.get("/projects/{project_id}/backlog", tags=["issues"], response_model=list[BacklogEntry])
def backlog(
    project_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
    request: Request,
    _: Reader,
    state: Annotated[IssueState | None, Query()] = None,
) -> list[BacklogEntry]:
    """Every issue_key the project's runs have seen, with its age and effective severity."""
    entries = load_backlog(context_of(request).database, _project(request, project_id))
    return [e for e in entries if state is None or e.issue_state is state]


@router.get("/reports/backlog", tags=["reports"], response_model=BacklogSummary)
def backlog_report(
    request: Request, _: Reader, top: Annotated[int, Query(ge=1, le=100)] = 10
) -> BacklogSummary:
    """Which issue keys recur most: by runs, by tiers and by occurrences."""
    context = context_of(request)
    entries = load_backlog(context.database, context.project_id)
    open_entries = [e for e in entries if e.issue_state is IssueState.OPEN]
    return BacklogSummary(
        project_id=context.project_id,
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
    request: Request, _: Reader, top: Annotated[int, Query(ge=1, le=100)] = 10
) -> BudgetAnalysis:
    """Runs that ended on budget caps, and which tiers and category:complexity slices spent most."""
    context = context_of(request)
    runs, _total = list_run_listings(
        context.database,
        project_id=context.project_id,
        states=(RunState.DONE_FAILED_BUDGET_EXHAUSTED,),
        limit=top,
    )
    return BudgetAnalysis(
        project_id=context.project_id,
        runs_ended_on_caps=[
            r for r in runs if r.failure and r.failure.code.startswith(BUDGET_FAILURE_PREFIX)
        ],
        top_tiers=spend_by(context.database, "tier")[:top],
        top_slices=spend_by(context.database, "category")[:top],
        by_model=spend_by(context.database, "model")[:top],
    )
