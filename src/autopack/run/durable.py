"""DBOS as the run's durable executor: its system database, the workflow start and resume, and the
sweeper that finds runs nobody drives (open-source DBOS does not resume another executor's work).

Embedded by default: DBOS on SQLite in `<repo>/.autopack/dbos.sqlite`, beside Autopack's own
database (any SQLite database has its DBOS file beside it: one system database per Autopack
database, so a worker and the API that queued its runs share it). With `AUTOPACK_DATABASE_URL` on
PostgreSQL, DBOS keeps its tables in that database.

DBOS is one per process by design; what a caller brings (its settings, who watches) is held by the
DurableExecutor it launches, never by the module.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID
from sqlalchemy.engine import make_url

from autopack import __version__
from autopack.config import Settings
from autopack.processes import executor_id
from autopack.run.dbos_sqlite import make_sqlite_queue_claims_atomic
from autopack.run.provider_queues import QueuePermits, provider_queue_names, serving_permits

# Registered with DBOS in every process that launches it: `autopack resume` of a run a worker had
# carries that workflow on here.
from autopack.run.queued import queued_run  # noqa: F401
from autopack.run.services import RunOptions
from autopack.run.workflow import run_workflow
from autopack.store.engine import Database, open_database
from autopack.store.leases import silent_runs
from autopack.store.progress import last_progress_id, progress_after

DBOS_SQLITE = "dbos.sqlite"
DEFAULT_DATABASE_FILE = "autopack.db"
DBOS_LOGGER = "dbos"
APP_NAME = "autopack"  # DBOS's application: it dequeues only its own queues' workflows
WATCH_SECONDS = 0.1  # how soon a listener hears of a stored progress event
QUEUE_POLL_SECONDS = 0.2  # how soon a resumed run leaves this executor's queue
RESULT_POLL_SECONDS = 0.2  # how soon a driven run's end is noticed
# A phase workflow a resume carries on: one a killed executor was running or had yet to start.
UNFINISHED = ["PENDING", "ENQUEUED"]

# Whoever watches a run this process drives (the CLI's live view), told each stored progress event.
Listener = Callable[[dict[str, Any]], None]


def own_queue(identity: str) -> str:
    """The DBOS queue only this executor dequeues from: where it puts a run it resumes."""
    return f"autopack-executor-{identity}"


def dbos_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("postgresql"):
        return url.replace("postgresql+psycopg://", "postgresql://", 1)
    database = make_url(url).database
    if not database or database == ":memory:":
        path = settings.repo_root / ".autopack" / DBOS_SQLITE
    else:
        beside = Path(database)
        name = DBOS_SQLITE if beside.name == DEFAULT_DATABASE_FILE else f"{beside.stem}-dbos.sqlite"
        path = beside.with_name(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass
class DurableExecutor:
    """This process's DBOS, launched for a caller, with what the caller brought: its settings and
    who watches the runs it drives."""

    settings: Settings
    identity: str
    listeners: Sequence[Listener] = field(default_factory=list)

    async def start(self, run_id: str, options: RunOptions) -> str:
        with self._driving(run_id):
            with SetWorkflowID(run_id):
                handle = await DBOS.start_workflow_async(
                    run_workflow, run_id, str(self.settings.repo_root), options.model_dump_json()
                )
            return str(await handle.get_result())

    async def resume(self, run_id: str, options: RunOptions) -> str:
        """Carry a run on from its last checkpoint; a finished run just reports its end."""
        status = await DBOS.get_workflow_status_async(run_id)
        if status is None:
            return await self.start(run_id, options)
        # The workflow composes its services from the inputs it was started with, not from these.
        with self._driving(run_id):
            if status.status == "SUCCESS":
                return str(await (await DBOS.retrieve_workflow_async(run_id)).get_result())
            # On this process's own queue: on DBOS's shared internal queue, any other launched
            # process could take the run, though this one holds its lease. Its live phases come
            # too: a replayed start of a phase workflow that exists does not run it again.
            queue = own_queue(self.identity)
            phases = await DBOS.list_workflows_async(
                parent_workflow_id=run_id, status=UNFINISHED, load_input=False, load_output=False
            )
            for phase in phases:
                await DBOS.resume_workflow_async(phase.workflow_id, queue_name=queue)
            resumed = await DBOS.resume_workflow_async(run_id, queue_name=queue)
            return str(await resumed.get_result(polling_interval_sec=RESULT_POLL_SECONDS))

    @contextmanager
    def _driving(self, run_id: str) -> Iterator[None]:
        database = open_database(self.settings.database_url)
        try:
            with watching(database, run_id, self.listeners):
                yield
        finally:
            database.close()


@contextmanager
def durable_executor(
    settings: Settings, listeners: Sequence[Listener] = (), *, serving: Sequence[str] = ()
) -> Iterator[DurableExecutor]:
    """DBOS launched for this process (one per process), on the settings' database; it dequeues
    from its own queue and from the `serving` queues (a worker's runs queue)."""
    DBOS.destroy()
    _console_log_to_current_stderr()
    make_sqlite_queue_claims_atomic()
    identity = executor_id()
    system_database_url = dbos_url(settings)
    limits = settings.runtime.rate_limits
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_database_url,
        "executor_id": identity,
        # Workflows started by one Autopack version are resumed by the same version's code.
        "application_version": __version__,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.listen_queues([own_queue(identity), *serving, *provider_queue_names(settings.runtime)])
    DBOS.launch()
    DBOS.register_queue(own_queue(identity), polling_interval_sec=QUEUE_POLL_SECONDS)
    try:
        with contextlib.ExitStack() as permits:
            if limits:
                permits.enter_context(
                    serving_permits(QueuePermits(system_database_url, APP_NAME, limits))
                )
            yield DurableExecutor(settings, identity, list(listeners))
    finally:
        DBOS.destroy()


def _console_log_to_current_stderr() -> None:
    """DBOS's console handler keeps the stderr of its first launch; a process that swapped stderr
    since (an embedding harness, typer's CliRunner) would have DBOS flush a closed stream."""
    for handler in logging.getLogger(DBOS_LOGGER).handlers:
        if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
            with handler.lock or contextlib.nullcontext():
                handler.stream = sys.stderr


@contextmanager
def watching(database: Database, run_id: str, listeners: Sequence[Listener]) -> Iterator[None]:
    """Tell the listeners, in order, each progress event of the run stored from now on: the ones
    the run's workflow stores, wherever DBOS runs it, and the last ones before the block ends."""
    if not listeners:
        yield
        return
    after = last_progress_id(database)
    stop = threading.Event()

    def tell() -> bool:
        nonlocal after
        events = progress_after(database, after, run_id=run_id)
        for event in events:
            after = event.id
            for listener in listeners:
                listener(event.as_message())
        return bool(events)

    def loop() -> None:
        while not stop.wait(WATCH_SECONDS):
            tell()

    thread = threading.Thread(target=loop, name=f"watch-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        while tell():
            pass


def sweep(
    database: Database, project_id: str, stale_after: timedelta, *, interrupted: bool = False
) -> list[str]:
    """The project's runs nobody has driven for `stale_after`: the ones this process should adopt
    (runs stopped by an interrupt too, with `interrupted`). Another project's runs are never
    taken: they would be driven in this project's repository."""
    mine = executor_id()
    silent = silent_runs(database, stale_after, project_id=project_id, interrupted=interrupted)
    return [run_id for run_id, owner in silent if owner != mine]
