"""Runs waiting for a worker: put in line by the API (DBOS's runs queue holds the line itself,
run/runs_queue.py), marked taken when a worker's workflow starts them, cancellable."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.schema import RunRow, utc_now


def requeue(database: Database, run_id: str) -> None:
    """Put a run back in line for a worker, with the options it was started with."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        row.queued_at, row.claimed_at = utc_now(), None


def saved_options(database: Database, run_id: str) -> str | None:
    with database.reading() as session:
        return session.scalar(select(RunRow.options_json).where(RunRow.run_id == run_id))


# The executor a cancel names when it takes an unstarted run to end it (claim_unstarted).
CANCELLER = "-cancel"


def take_queued(database: Database, run_id: str) -> str | None:
    """A worker's workflow now executes the run: None, or the state of a run that must not be
    executed, since it ended or a cancel took it first (claim_unstarted)."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        if row.ended_at is not None or (row.executor_id or "").endswith(CANCELLER):
            return row.state
        if row.claimed_at is None:
            row.claimed_at = utc_now()
        return None


def waiting_runs(database: Database, queued_before: datetime) -> list[tuple[str, str, str]]:
    """(run_id, project_id, options_json) of runs put in line for a worker before
    `queued_before` that no worker has taken yet."""
    with database.reading() as session:
        rows = session.execute(
            select(RunRow.run_id, RunRow.project_id, RunRow.options_json)
            .where(
                RunRow.queued_at.is_not(None),
                RunRow.queued_at < queued_before,
                RunRow.claimed_at.is_(None),
                RunRow.ended_at.is_(None),
            )
            .order_by(RunRow.queued_at)
        ).all()
    return [(run_id, project_id, options or "{}") for run_id, project_id, options in rows]


def claim_unstarted(database: Database, run_id: str, executor_id: str) -> bool:
    """Take a run no executor has touched yet (compare-and-set), to end it without running it."""
    with database.transaction() as session:
        taken = session.execute(
            update(RunRow)
            .where(
                RunRow.run_id == run_id,
                RunRow.ended_at.is_(None),
                RunRow.claimed_at.is_(None),
                RunRow.heartbeat_at.is_(None),
            )
            .values(claimed_at=utc_now(), executor_id=executor_id)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def queue_depth(database: Database) -> int:
    with database.reading() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(RunRow)
                .where(
                    RunRow.queued_at.is_not(None),
                    RunRow.claimed_at.is_(None),
                    RunRow.ended_at.is_(None),
                )
            )
            or 0
        )


def request_cancel(database: Database, run_id: str, reason: str) -> bool:
    """Record the request; False when the run had already ended (nothing to cancel)."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        if row.ended_at is not None:
            return False
        row.cancel_requested = reason
        return True


def cancel_reason(database: Database, run_id: str) -> str | None:
    with database.reading() as session:
        return session.scalar(select(RunRow.cancel_requested).where(RunRow.run_id == run_id))


def last_heartbeat(database: Database, run_id: str) -> datetime | None:
    """When the run's executor last said it was alive (timezone-aware), if one ever did."""
    with database.reading() as session:
        beat = session.scalar(select(RunRow.heartbeat_at).where(RunRow.run_id == run_id))
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return beat
