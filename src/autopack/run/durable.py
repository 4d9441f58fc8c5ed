"""DBOS as the run's durable executor: its system database, the workflow start and resume, heartbeats
and the sweeper that resumes runs whose executor went silent (open-source DBOS does not do that).

Embedded by default: DBOS on SQLite in `<repo>/.autopack/dbos.sqlite`, beside Autopack's own
database. With `AUTOPACK_DATABASE_URL` on PostgreSQL, DBOS keeps its tables in that database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from dbos import DBOS, DBOSConfig, SetWorkflowID

from autopack import __version__
from autopack.config import Settings
from autopack.run.services import RunOptions, forget_services, services_for
from autopack.run.workflow import run_workflow
from autopack.store.checkpoints import beat, silent_runs
from autopack.store.engine import Database, database_url_for, open_database

DBOS_SQLITE = Path(".autopack") / "dbos.sqlite"
DBOS_LOGGER = "dbos"
HEARTBEAT_SECONDS = float(os.environ.get("AUTOPACK_HEARTBEAT_SECONDS", "5"))


def dbos_url(repo_root: Path, env: Mapping[str, str]) -> str:
    url = env.get("AUTOPACK_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return url.replace("postgresql+psycopg://", "postgresql://", 1)
    path = repo_root / DBOS_SQLITE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@contextmanager
def durable_executor(settings: Settings, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """DBOS launched for this process (one per process); yields this executor's id."""
    DBOS.destroy()
    _console_log_to_current_stderr()
    identity = executor_id()
    config: DBOSConfig = {
        "name": "autopack",
        "system_database_url": dbos_url(settings.repo_root, env if env is not None else os.environ),
        "executor_id": identity,
        # Workflows started by one Autopack version are resumed by the same version's code.
        "application_version": __version__,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        yield identity
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
def heartbeat(database: Database, run_id: str, identity: str) -> Iterator[None]:
    """Say every few seconds that this process still drives the run."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            beat(database, run_id, identity)
            if stop.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=loop, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


async def start_workflow(run_id: str, repo_root: Path, options: RunOptions, identity: str) -> str:
    services = services_for(run_id, str(repo_root), options)
    with heartbeat(services.database, run_id, identity):
        with SetWorkflowID(run_id):
            handle = await DBOS.start_workflow_async(
                run_workflow, run_id, str(repo_root), options.model_dump_json()
            )
        try:
            return str(await handle.get_result())
        finally:
            forget_services(run_id)


async def resume_workflow(run_id: str, repo_root: Path, options: RunOptions, identity: str) -> str:
    """Carry a run on from its last checkpoint; a finished run just reports its end."""
    status = await DBOS.get_workflow_status_async(run_id)
    if status is None:
        return await start_workflow(run_id, repo_root, options, identity)
    # The workflow composes its services from the inputs it was started with, not from these.
    database = open_database(database_url_for(repo_root, os.environ))
    with heartbeat(database, run_id, identity):
        try:
            if status.status == "SUCCESS":
                return str(await (await DBOS.retrieve_workflow_async(run_id)).get_result())
            return str(await (await DBOS.resume_workflow_async(run_id)).get_result())
        finally:
            forget_services(run_id)
            database.close()


def sweep(database: Database, stale_after: timedelta) -> list[str]:
    """Runs whose executor has been silent for `stale_after`: the ones this process should adopt."""
    mine = executor_id()
    return [run_id for run_id, owner in silent_runs(database, stale_after) if owner != mine]
