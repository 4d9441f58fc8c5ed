"""Who drives a run: one executor at a time holds its lease, renews it by heartbeat, gives it back.

The lease is the `executor_id` and `heartbeat_at` of the run's row. Taking it is a compare-and-set
in one write transaction, so of two processes resuming one run exactly one proceeds; the other is
told who holds it. A holder that stopped beating for `stale_after`, or that the caller knows to be
dead, no longer holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.schema import RunRow, utc_now


@dataclass(frozen=True)
class Holder:
    executor_id: str
    heartbeat_at: datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def take_lease(
    database: Database,
    run_id: str,
    executor_id: str,
    stale_after: timedelta,
    is_dead: Callable[[str], bool],
) -> Holder | None:
    """Take the run for `executor_id`: None when it now holds the lease, else who else does."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        holder, beat = row.executor_id, row.heartbeat_at
        if holder is not None and holder != executor_id and beat is not None:
            fresh = utc_now() - _aware(beat) < stale_after
            if fresh and row.interrupted_at is None and not is_dead(holder):
                return Holder(holder, _aware(beat))
        row.executor_id, row.heartbeat_at = executor_id, utc_now()
        return None


def beat(database: Database, run_id: str, executor_id: str) -> bool:
    """The executor driving `run_id` is alive now; False when another executor holds the run."""
    with database.transaction() as session:
        row = session.get(RunRow, run_id, with_for_update=True)
        if row is None or row.executor_id not in (None, executor_id):
            return False
        row.executor_id, row.heartbeat_at = executor_id, utc_now()
        return True


def release_lease(database: Database, run_id: str, executor_id: str) -> None:
    """Give an unfinished run back, for anyone to take at once; its last heartbeat stays as the
    moment it was last driven. A finished run keeps the executor that drove it to its end."""
    with database.transaction() as session:
        session.execute(
            update(RunRow)
            .where(
                RunRow.run_id == run_id,
                RunRow.executor_id == executor_id,
                RunRow.ended_at.is_(None),
            )
            .values(executor_id=None)
        )


def silent_runs(
    database: Database,
    older_than: timedelta,
    *,
    project_id: str | None = None,
    interrupted: bool = False,
) -> list[tuple[str, str | None]]:
    """(run_id, executor_id) of unfinished runs nobody drives: whose executor has not beaten for
    `older_than`, or that were stored and never started (no heartbeat, not waiting in the queue)
    `older_than` ago. Runs whose executor was interrupted (stopped on purpose) only with
    `interrupted`; only `project_id`'s runs when it is given."""
    cutoff: datetime = utc_now() - older_than
    query = select(
        RunRow.run_id, RunRow.executor_id, RunRow.heartbeat_at, RunRow.queued_at, RunRow.created_at
    ).where(RunRow.ended_at.is_(None))
    if project_id is not None:
        query = query.where(RunRow.project_id == project_id)
    if not interrupted:
        query = query.where(RunRow.interrupted_at.is_(None))
    with database.transaction() as session:
        rows = session.execute(query.order_by(RunRow.created_at)).all()
    silent = []
    for run_id, executor_id, heartbeat, queued, created in rows:
        if heartbeat is None and (queued is not None or executor_id is not None):
            continue  # a worker's to take from the queue, or being cancelled unstarted
        last_sign = heartbeat if heartbeat is not None else created
        if _aware(last_sign) < cutoff:
            silent.append((run_id, executor_id))
    return silent
