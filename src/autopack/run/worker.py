"""A worker: a process that executes the runs DBOS hands it from the runs queue, and puts the
runs of dead workers back in line.

`autopack serve` runs one in a thread of its own process by default; `autopack worker` runs one
per process, as many as a team wants against one database. DBOS dequeues each run exactly once,
within the queue's limits: `runtime.worker_concurrency` runs at once in one worker,
`runtime.global_concurrency` across all of them; the queue is partitioned by project, so a free
slot goes to the projects in turn, however long one project's line is (run/runs_queue.py).

A worker executes the runs of every registered project, each in its own repository (the queued
run names it), on the worker's database. Every pass it also recovers the runs of dead workers
(run/recovery.py) and enqueues runs stored for a worker but never enqueued.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from queue import Empty

from dbos import DBOS

from autopack import __version__
from autopack.config import RuntimeSection, Settings
from autopack.run.durable import durable_executor
from autopack.run.execute import RunEnd
from autopack.run.queued import ENDED, RUNS_QUEUE
from autopack.run.recovery import recover_dead_workers
from autopack.run.runs_queue import enqueue_forgotten
from autopack.store.engine import Database, open_database
from autopack.store.runs import get_run

log = logging.getLogger(__name__)

DATABASE_VARIABLE = "AUTOPACK_DATABASE_URL"


@contextmanager
def _database_for_workflows(url: str) -> Iterator[None]:
    """Make every run's workflow in this process find the worker's database.

    The workflow loads its process settings from the repository's path and the environment (a
    database URL is never stored with a run): for another project's repository without
    AUTOPACK_DATABASE_URL, that would be its own SQLite file, which does not hold the run.
    """
    before = os.environ.get(DATABASE_VARIABLE)
    os.environ[DATABASE_VARIABLE] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DATABASE_VARIABLE, None)
        else:
            os.environ[DATABASE_VARIABLE] = before


def register_runs_queue(runtime: RuntimeSection) -> None:
    """The runs queue with this worker's limits; stored in DBOS's database, so the last worker to
    start sets them for every worker."""
    total = runtime.global_concurrency or None
    each = min(runtime.worker_concurrency, total or runtime.worker_concurrency)
    DBOS.register_queue(
        RUNS_QUEUE,
        worker_concurrency=each,
        global_concurrency=total,
        # Partitioned by project (a partition limit makes it so), no tighter than the worker's.
        partition_worker_concurrency=each,
        polling_interval_sec=runtime.worker_poll_seconds,
        on_conflict="always_update",
    )


def work(settings: Settings, stop: threading.Event, *, once: bool = False) -> list[RunEnd]:
    """Execute queued runs and recover dead workers' runs until `stop` is set; the runs this
    worker carried to their end.

    With `once`, return as soon as no run is waiting on the queue or executing here. How often
    the worker looks and when a run's executor counts as dead are the settings' `runtime`.
    """
    runtime = settings.runtime
    stale_after = timedelta(seconds=runtime.stale_seconds)
    ended: list[RunEnd] = []
    _forget_earlier_ends()  # told to a worker of this process before this one
    with (
        _database_for_workflows(settings.database_url),
        durable_executor(settings, serving=[RUNS_QUEUE]) as executor,
    ):
        register_runs_queue(runtime)
        database = open_database(settings.database_url)
        # Runs stored and never enqueued are rare (a kill in between) and waited stale_after
        # for anyway: looked for once a stale_after, not on every pass.
        next_forgotten = 0.0
        try:
            while True:
                try:
                    recover_dead_workers(database, stale_after, executor.identity)
                    if time.monotonic() >= next_forgotten:
                        enqueue_forgotten(settings, database, stale_after)
                        next_forgotten = time.monotonic() + runtime.stale_seconds
                except Exception:  # a worker outlives any one pass's trouble
                    log.exception("worker pass failed")
                ended.extend(_ended_here(database))
                if stop.is_set() or (once and _idle(executor.identity)):
                    break
                stop.wait(runtime.worker_poll_seconds)
            # A run that ended between the last look and the idle check: its workflow told it
            # before DBOS recorded its end.
            ended.extend(_ended_here(database))
        finally:
            database.close()
    return ended


def _forget_earlier_ends() -> None:
    with contextlib.suppress(Empty):
        while True:
            ENDED.get_nowait()


def _ended_here(database: Database) -> list[RunEnd]:
    ends: list[RunEnd] = []
    while True:
        try:
            run_id = ENDED.get_nowait()
        except Empty:
            return ends
        run = get_run(database, run_id)
        ends.append(RunEnd(run_id, run.state, run.failure.message if run.failure else None))


def _idle(identity: str) -> bool:
    """No run waits on the queue for a worker of this version, and none executes here."""
    waiting = DBOS.list_workflows(
        status="ENQUEUED",
        queue_name=RUNS_QUEUE,
        app_version=__version__,
        limit=1,
        load_input=False,
        load_output=False,
    )
    executing = DBOS.list_workflows(
        status="PENDING",
        executor_id=identity,
        limit=1,
        load_input=False,
        load_output=False,
    )
    return not waiting and not executing
