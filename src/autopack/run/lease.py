"""Driving a run exclusively: the lease on it, its heartbeat while this process drives it, and the
checks its dead predecessors left running.

Every way of driving a run (run, resume, sweep, a worker) goes through `holding`: a second process
is refused with who holds the run, so no two ever execute one run's steps at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from autopack.config import Settings
from autopack.errors import AutopackError
from autopack.processes import executor_dead
from autopack.store.engine import Database, open_database
from autopack.store.leases import beat, release_lease, take_lease
from autopack.verify.orphans import reap_orphans

log = logging.getLogger(__name__)


class RunBusy(AutopackError):
    """Another live process drives the run."""

    exit_code = 9


@contextmanager
def holding(settings: Settings, run_id: str, identity: str) -> Iterator[None]:
    """This process drives the run for the block's length, beating every heartbeat_seconds."""
    runtime = settings.runtime
    database = open_database(settings.database_url)
    try:
        holder = take_lease(
            database, run_id, identity, timedelta(seconds=runtime.stale_seconds), executor_dead
        )
        if holder is not None:
            ago = (datetime.now(UTC) - holder.heartbeat_at).total_seconds()
            raise RunBusy(
                f"run {run_id} is being driven by {holder.executor_id} (heartbeat {ago:.0f} s ago): "
                f"follow it with `autopack watch {run_id}`, or stop that process and resume again"
            )
        # Only now, holding the run: whatever a dead executor left running is nobody's.
        reaped = reap_orphans(executor_dead)
        if reaped:
            log.warning("killed %d check processes left by a dead Autopack process", len(reaped))
        try:
            with _heartbeat(database, run_id, identity, runtime.heartbeat_seconds):
                yield
        finally:
            release_lease(database, run_id, identity)
    finally:
        database.close()


@contextmanager
def _heartbeat(database: Database, run_id: str, identity: str, seconds: float) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while True:
            if not beat(database, run_id, identity):
                log.warning("run %s was taken over by another executor", run_id)
                return
            if stop.wait(seconds):
                return

    thread = threading.Thread(target=loop, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
