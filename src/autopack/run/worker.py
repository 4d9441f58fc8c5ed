"""A worker: takes queued runs one at a time and carries each to its end; adopts silent runs.

`autopack serve` runs one in a thread of its own process by default; `autopack worker` runs one
per process, as many as a team wants against one PostgreSQL. The claim on a queued run is a
compare-and-set in the database, so no two workers ever take the same run.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from autopack.config import Settings
from autopack.processes import executor_id
from autopack.run.execute import RunEnd, execute_run, sweep_and_resume
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.queue import claim_next

log = logging.getLogger(__name__)


def run_next(settings: Settings) -> RunEnd | None:
    """Claim the oldest queued run and execute it; None when the queue is empty."""
    database = open_database(settings.database_url)
    try:
        claimed = claim_next(database, executor_id())
    finally:
        database.close()
    if claimed is None:
        return None
    run_id, options_json = claimed
    return execute_run(settings, run_id, RunOptions.model_validate_json(options_json))


def work(settings: Settings, stop: threading.Event, *, once: bool = False) -> list[RunEnd]:
    """Execute queued runs (and adopt runs whose executor went silent) until `stop` is set.

    With `once`, return as soon as there is nothing left to do. How often an idle worker looks
    and when a run counts as silent are the settings' `runtime`.
    """
    runtime = settings.runtime
    stale_after = timedelta(seconds=runtime.stale_seconds)
    ended: list[RunEnd] = []
    while not stop.is_set():
        try:
            end = run_next(settings)
            adopted = [] if end else sweep_and_resume(settings, stale_after)
        except Exception:  # a worker outlives any one run's trouble; the run records its own end
            log.exception("worker step failed")
            end, adopted = None, []
        if end is not None:
            ended.append(end)
        ended.extend(adopted)
        if end is None and not adopted:
            if once:
                break
            stop.wait(runtime.worker_poll_seconds)
    return ended
