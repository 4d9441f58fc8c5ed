"""A run put in line for a worker: the workflow DBOS dequeues from the runs queue.

The API stores a run and enqueues this workflow under the run's id on `autopack-runs`, in the
partition of the run's project (run/runs_queue.py); a worker process listening to that queue
(run/worker.py) is handed it by DBOS, within the queue's concurrency limits. Unlike a run started
by `autopack run`, nobody has taken the run's lease before DBOS starts it, so the workflow takes
the lease itself, each time it executes: first, and again after DBOS recovered it from a dead
worker (run/recovery.py). A driver holding the lease meanwhile (an `autopack resume`) is waited
for, not raced: a workflow that raised would end in DBOS's ERROR, which nothing can resume.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from contextlib import ExitStack
from pathlib import Path

from dbos import DBOS

from autopack.config import Settings, settings_to_resume
from autopack.processes import executor_id
from autopack.run.interrupt import DRIVEN
from autopack.run.lease import RunBusy, holding
from autopack.run.services import RunOptions, run_services
from autopack.run.workflow import drive
from autopack.store.engine import open_database
from autopack.store.queue import take_queued

log = logging.getLogger(__name__)

RUNS_QUEUE = "autopack-runs"
QUEUED_WORKFLOW = "autopack.queued_run"

# The runs this process's workflows carried to their end, for the worker that reports them.
ENDED: queue.SimpleQueue[str] = queue.SimpleQueue()


@DBOS.workflow(name=QUEUED_WORKFLOW)
async def queued_run(run_id: str, repo_root: str, options_json: str) -> str:
    """Take the run's lease, then drive it as `autopack run` would; a run a cancel ended before
    any worker took it is not driven. The database is this worker process's (worker.py)."""
    settings = settings_to_resume(Path(repo_root))
    ended = _not_to_drive(settings, run_id)
    if ended is not None:
        return ended
    with ExitStack() as held:
        await _take_lease(held, settings, run_id)
        # Phases a dead worker was running come to this process, which now drives the run.
        # (Imported here: both modules import this one, which registers the workflow.)
        from autopack.run.durable import own_queue
        from autopack.run.runs_queue import bring_phases

        await asyncio.to_thread(bring_phases, settings, run_id, own_queue(executor_id()))
        held.enter_context(DRIVEN.driving(settings, run_id))
        options = RunOptions.model_validate_json(options_json)
        with run_services(run_id, settings, options) as services:
            state = await drive(services)
    ENDED.put(run_id)
    return state


def _not_to_drive(settings: Settings, run_id: str) -> str | None:
    database = open_database(settings.database_url)
    try:
        return take_queued(database, run_id)
    finally:
        database.close()


async def _take_lease(held: ExitStack, settings: Settings, run_id: str) -> None:
    """Hold the run's lease for the rest of `held`, waiting while another live driver has it."""
    while True:
        try:
            held.enter_context(holding(settings, run_id, executor_id()))
            return
        except RunBusy as busy:
            log.warning("%s; waiting for it", busy)
            await asyncio.sleep(settings.runtime.heartbeat_seconds)
