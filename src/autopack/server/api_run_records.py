"""/runs/{id}/…: what a run recorded — its integration branch, ledger, metrics, summary and
incident packs."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from autopack.domain.states import RunState
from autopack.run.artefacts import INCIDENTS_DIR, SUMMARY_FILE
from autopack.server.api_runs import RunId, TierId, record_of, settings_of_run, strategy_of
from autopack.server.auth import Reader
from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.ledger import LlmCallRecord, ledger_for_run
from autopack.store.reports import SpendSlice, run_listing, spend_by
from autopack.store.schema import utc_now
from autopack.workspace.base import IntegrationStatus
from autopack.workspace.registry import git_for

router = APIRouter(prefix="/runs", tags=["runs"])

INCIDENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$"


class Ledger(BaseModel):
    run_id: str
    calls: list[LlmCallRecord]
    total_tokens: int
    total_usd: Decimal
    by_role: list[SpendSlice]
    by_model: list[SpendSlice]
    by_tier: list[SpendSlice]


class Metrics(BaseModel):
    run_id: str
    state: RunState
    duration_seconds: float
    phases_by_state: dict[str, int]
    attempts: int
    ci_runs: int
    tokens: int
    usd: Decimal
    by_role: list[SpendSlice]
    by_model: list[SpendSlice]
    by_tier: list[SpendSlice]
    by_category: list[SpendSlice]


class TierMetrics(BaseModel):
    run_id: str
    tier_id: str
    state: str
    cleanliness: str | None
    phases_by_state: dict[str, int]
    attempts: int
    tokens: int
    usd: Decimal
    budget_tokens: int
    budget_usd: Decimal


@router.get("/{run_id}/integration", response_model=IntegrationStatus)
def integration(run_id: RunId, request: Request, caller: Reader) -> IntegrationStatus:
    """The integration branch: its base, head and the commits the run made on it."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    if record.base_commit is None:
        raise Problem(409, "Conflict", f"run {run_id} recorded no base commit")
    git = git_for(settings_of_run(context, record))
    try:
        return git.integration_status(run_id, record.base_commit)
    except Exception:
        raise Problem(
            409, "Conflict", f"run {run_id} has no integration branch yet (it has not started)"
        ) from None


@router.get("/{run_id}/ledger", response_model=Ledger)
def ledger(run_id: RunId, request: Request, caller: Reader) -> Ledger:
    context = context_of(request)
    record_of(context, run_id, caller)
    calls = ledger_for_run(context.database, run_id)
    return Ledger(
        run_id=run_id,
        calls=calls,
        total_tokens=sum(c.input_tokens + c.output_tokens for c in calls),
        total_usd=sum((c.usd for c in calls), Decimal(0)),
        by_role=spend_by(context.database, "role", run_id=run_id),
        by_model=spend_by(context.database, "model", run_id=run_id),
        by_tier=spend_by(context.database, "tier", run_id=run_id),
    )


def _count(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


@router.get("/{run_id}/metrics", response_model=Metrics)
def run_metrics(run_id: RunId, request: Request, caller: Reader) -> Metrics:
    context = context_of(request)
    record = record_of(context, run_id, caller)
    listing = run_listing(context.database, run_id)
    assert listing is not None
    end = record.ended_at or utc_now()
    start = record.created_at
    if start.tzinfo is None and end.tzinfo is not None:
        end = end.replace(tzinfo=None)
    phases = [p for t in record.tiers for p in t.phases]
    return Metrics(
        run_id=run_id,
        state=record.state,
        duration_seconds=max((end - start).total_seconds(), 0.0),
        phases_by_state=_count([p.state.value for p in phases]),
        attempts=sum(p.attempts_used for p in phases),
        ci_runs=listing.ci_runs,
        tokens=listing.spend.tokens,
        usd=listing.spend.usd,
        by_role=spend_by(context.database, "role", run_id=run_id),
        by_model=spend_by(context.database, "model", run_id=run_id),
        by_tier=spend_by(context.database, "tier", run_id=run_id),
        by_category=spend_by(context.database, "category", run_id=run_id),
    )


@router.get("/{run_id}/tiers/{tier_id}/metrics", response_model=TierMetrics)
def tier_metrics(run_id: RunId, tier_id: TierId, request: Request, caller: Reader) -> TierMetrics:
    context = context_of(request)
    record = record_of(context, run_id, caller)
    tier = next((t for t in record.tiers if t.tier_id == tier_id), None)
    planned = next((t for t in strategy_of(record).tiers if t.tier_id == tier_id), None)
    if tier is None or planned is None:
        raise Problem(404, "Not found", f"no tier {tier_id!r} in run {run_id}")
    spent = next(
        (s.spend for s in spend_by(context.database, "tier", run_id=run_id) if s.key == tier_id),
        None,
    )
    return TierMetrics(
        run_id=run_id,
        tier_id=tier_id,
        state=tier.state.value,
        cleanliness=tier.cleanliness.value if tier.cleanliness else None,
        phases_by_state=_count([p.state.value for p in tier.phases]),
        attempts=sum(p.attempts_used for p in tier.phases),
        tokens=spent.tokens if spent else 0,
        usd=spent.usd if spent else Decimal(0),
        budget_tokens=planned.budget.tokens,
        budget_usd=planned.budget.usd,
    )


@router.get("/{run_id}/summary", response_class=Response)
def summary(run_id: RunId, request: Request, caller: Reader) -> Response:
    """RUN_SUMMARY.md as written at the run's end."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    path = settings_of_run(context, record).runs_dir / run_id / SUMMARY_FILE
    if not path.exists():
        raise Problem(
            409, "Conflict", f"run {run_id} is {record.state.value}; its summary comes at its end"
        )
    return Response(path.read_text(encoding="utf-8"), media_type="text/markdown; charset=utf-8")


@router.get("/{run_id}/incidents", response_model=list[str])
def incidents(run_id: RunId, request: Request, caller: Reader) -> list[str]:
    context = context_of(request)
    record = record_of(context, run_id, caller)
    folder = settings_of_run(context, record).runs_dir / run_id / INCIDENTS_DIR
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


@router.get("/{run_id}/incidents/{name}", response_class=Response)
def incident_pack(
    run_id: RunId,
    name: Annotated[str, PathParam(pattern=INCIDENT_NAME)],
    request: Request,
    caller: Reader,
) -> Response:
    """One incident pack as a zip: diff, test output, trajectory, ledger, findings, replay."""
    context = context_of(request)
    record = record_of(context, run_id, caller)
    folder = settings_of_run(context, record).runs_dir / run_id / INCIDENTS_DIR / name
    if not folder.is_dir():
        raise Problem(404, "Not found", f"run {run_id} has no incident {name!r}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{name}/{path.relative_to(folder)}")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{run_id}-{name}.zip"'},
    )
