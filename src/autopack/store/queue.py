"""Runs waiting for a worker: queued by the API, claimed by exactly one worker, cancellable."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.schema import ProjectRow, RunRow, utc_now


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


def claim_next(database: Database, executor_id: str) -> tuple[str, str] | None:
    """(run_id, options_json) of the queued run this worker now owns, or None.

    Fair across projects: the oldest queued run of the project whose last claim is oldest (never
    claimed first), so one project's long queue does not starve another's. The claim is a
    compare-and-set on `claimed_at`, so two workers never take the same run.
    """
    while True:
        with database.transaction() as session:
            candidate = session.execute(
                select(RunRow.run_id, RunRow.options_json, RunRow.project_id)
                .join(ProjectRow, ProjectRow.project_id == RunRow.project_id)
                .where(
                    RunRow.queued_at.is_not(None),
                    RunRow.claimed_at.is_(None),
                    RunRow.ended_at.is_(None),
                )
                .order_by(
                    ProjectRow.last_claimed_at.asc().nulls_first(),
                    RunRow.queued_at,
                    RunRow.run_id,
                )
                .limit(1)
            ).first()
            if candidate is None:
                return None
            run_id, options_json, project_id = candidate
            now = utc_now()
            taken = session.execute(
                update(RunRow)
                .where(RunRow.run_id == run_id, RunRow.claimed_at.is_(None))
                .values(claimed_at=now, executor_id=executor_id, heartbeat_at=now)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                session.execute(
                    update(ProjectRow)
                    .where(ProjectRow.project_id == project_id)
                    .values(last_claimed_at=now)
                )
                return run_id, options_json or "{}"


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
