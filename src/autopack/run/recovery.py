"""Carrying on the runs of a worker that died: Autopack says which executors are dead, DBOS puts
their workflows back in line.

Open-source DBOS 3.4.0 recovers at launch only the workflows of the executor id it launches
with, and ours (`host-pid`) never come back; it has no notion of another executor's liveness.
Its one way to recover another executor's workflows is `DBOS._recover_pending_workflows(ids)`,
an internal (underscored) method, used here on purpose: it turns each PENDING workflow of those
executors (of this application version) back to ENQUEUED in one guarded UPDATE (`executor_id IN
ids`), a queued run on its own queue, partition and limits, its child workflows on DBOS's
internal queue; a run's phases are parked before it is called (_park_phases_of), the rest moved
aside after (_off_dead_queues). A second call, by this worker or another, finds nothing left to do, so workers
need not agree on who recovers. The public alternatives fall short: `resume_workflow` moves one
workflow and leaves its children pending; Conductor, which watches executors, is proprietary.
Being internal, it may change in a DBOS upgrade: tests/run/test_worker_recovery.py kills a worker
and proves the run is recovered through it.

What we guard, since DBOS cannot: an executor counts as dead only when the leases of the queued
runs it holds went stale (no heartbeat for `stale_seconds`), or, on this host, its pid is gone;
runs interrupted on purpose (Ctrl-C, SIGTERM) are left for a person, as before. A live worker
judged dead by mistake (its heartbeat late by more than `stale_seconds`) loses its workflow at
its next checkpoint (DBOS fences it by owner), and the re-executed workflow waits for the
lease (run/queued.py): the step in flight may run twice, as after any kill.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from dbos import DBOS
from sqlalchemy import select

from autopack.errors import NotFound
from autopack.processes import executor_dead
from autopack.run.durable import own_queue
from autopack.run.queued import QUEUED_WORKFLOW, RUNS_QUEUE
from autopack.run.runs_queue import PARKED_QUEUE
from autopack.run.workflow import PHASE_WORKFLOW_NAME
from autopack.store.engine import Database
from autopack.store.queue import CANCELLER, requeue
from autopack.store.schema import RunRow, utc_now

log = logging.getLogger(__name__)


def dead_executors(database: Database, stale_after: timedelta, me: str) -> list[str]:
    """Executors, other than `me`, that hold queued runs and no longer drive them."""
    cutoff = utc_now() - stale_after
    with database.reading() as session:
        held = session.execute(
            select(RunRow.executor_id, RunRow.heartbeat_at, RunRow.interrupted_at).where(
                RunRow.queued_at.is_not(None),
                RunRow.ended_at.is_(None),
                RunRow.executor_id.is_not(None),
            )
        ).all()
    interrupted = {executor for executor, _, stopped in held if stopped is not None}
    dead: set[str] = set()
    for executor, beat, _ in held:
        if (
            executor is None
            or executor in (me, *interrupted)
            or executor.endswith(CANCELLER)
            or beat is None
        ):
            continue
        if executor_dead(executor) or _aware(beat) < cutoff:
            dead.add(executor)
    # Taken off the queue by a worker of this host that died before its workflow took the lease.
    for pending in DBOS.list_workflows(
        status="PENDING", queue_name=RUNS_QUEUE, load_input=False, load_output=False
    ):
        executor = pending.executor_id
        if executor and executor not in (me, *interrupted) and executor_dead(executor):
            dead.add(executor)
    return sorted(dead)


def recover_dead_workers(database: Database, stale_after: timedelta, me: str) -> list[str]:
    """Put the workflows of dead executors back in line; the ids DBOS recovered."""
    dead = dead_executors(database, stale_after, me)
    if not dead:
        return []
    parked = _park_phases_of(dead)
    recovered = [handle.get_workflow_id() for handle in DBOS._recover_pending_workflows(dead)]
    _off_dead_queues(recovered, me)
    for workflow_id in recovered:
        with contextlib.suppress(NotFound):  # else a child workflow of a run, not a run
            requeue(database, workflow_id)  # waiting for a worker again, as the API shows it
    recovered = parked + recovered
    if recovered:
        log.warning("recovered %s from dead executors %s", ", ".join(recovered), ", ".join(dead))
    return recovered


def _park_phases_of(dead: list[str]) -> list[str]:
    """The dead executors' phase workflows, straight onto the queue where a run's phases wait for
    the worker that takes the run, before DBOS recovers the rest. Recovered by DBOS, they would
    first wait on its internal queue, which every process serves: this one could start a phase
    there in the moment before moving it aside, then start it again where the run runs (seen in
    CI: a phase built twice at once, one build's worktree recreated under the other). A parked
    phase is no longer PENDING, so DBOS's recovery leaves it be."""
    parked = []
    for status in DBOS.list_workflows(
        status="PENDING",
        name=PHASE_WORKFLOW_NAME,
        executor_id=dead,
        load_input=False,
        load_output=False,
    ):
        DBOS.resume_workflow(status.workflow_id, queue_name=PARKED_QUEUE)
        parked.append(status.workflow_id)
    return parked


def _off_dead_queues(workflow_ids: list[str], me: str) -> None:
    """DBOS recovers a workflow onto the queue it was on: for one a dead process had put on its
    own queue (`autopack resume` does), a queue nobody will listen to again. A run goes to the
    runs queue instead (its partition unchanged); a run's phases wait aside for the worker that
    takes the run."""
    if not workflow_ids:
        return
    for status in DBOS.list_workflows(
        workflow_ids=workflow_ids, load_input=False, load_output=False
    ):
        if status.name == PHASE_WORKFLOW_NAME:
            # Not on DBOS's internal queue, which every process serves: a phase runs where its
            # run runs, and the worker that takes the run brings it (run/queued.py).
            DBOS.resume_workflow(status.workflow_id, queue_name=PARKED_QUEUE)
        elif status.queue_name and status.queue_name.startswith(own_queue("")):
            target = RUNS_QUEUE if status.name == QUEUED_WORKFLOW else own_queue(me)
            DBOS.resume_workflow(status.workflow_id, queue_name=target)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
