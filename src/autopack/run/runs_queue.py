"""Putting runs in line on DBOS's runs queue, from processes that never execute them (the API,
`autopack sweep`): through DBOS's client, which writes the queue's rows without launching DBOS.

Each run is enqueued under its own id (a second enqueue of it is a no-op) in its project's
partition, so DBOS hands free worker slots to the projects in turn (random order per poll),
however long one project's line is. The run's saved options travel with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from dbos import DBOSClient, EnqueueOptions

from autopack import __version__
from autopack.config import Settings
from autopack.errors import AutopackError
from autopack.run.durable import APP_NAME, dbos_url
from autopack.run.queued import QUEUED_WORKFLOW, RUNS_QUEUE
from autopack.store.engine import Database
from autopack.store.projects import get_project
from autopack.store.queue import requeue, saved_options, waiting_runs
from autopack.store.schema import utc_now

_SCHEMA_MADE: set[str] = set()
_SCHEMA_LOCK = threading.Lock()


class NotQueueable(AutopackError):
    """A run driven by `autopack run`, whose workflow no worker's queue can carry on."""

    exit_code = 4


# No process listens to it: where a run's phases wait while the run waits for a worker.
PARKED_QUEUE = "autopack-parked-phases"


@contextmanager
def runs_queue(settings: Settings) -> Iterator[DBOSClient]:
    """DBOS's client on the settings' system database, its tables made if no DBOS made them yet."""
    url = dbos_url(settings)
    client = DBOSClient(system_database_url=url, application_name=APP_NAME)
    try:
        with _SCHEMA_LOCK:
            if url not in _SCHEMA_MADE:
                # The client never migrates (only a launched DBOS does), and an API may queue
                # runs before any worker launched one: DBOS's own migration, idempotent.
                client._sys_db.run_migrations()
                _SCHEMA_MADE.add(url)
        yield client
    finally:
        client.destroy()


def enqueue_run(
    client: DBOSClient, run_id: str, project_id: str, repo_root: Path, options_json: str
) -> None:
    options: EnqueueOptions = {
        "workflow_name": QUEUED_WORKFLOW,
        "queue_name": RUNS_QUEUE,
        "workflow_id": run_id,
        "queue_partition_key": project_id,
        # Dequeued only by workers of this version, whose code replays this version's steps.
        "app_version": __version__,
    }
    client.enqueue(options, run_id, str(repo_root), options_json)


def put_in_line(settings: Settings, run_id: str, options_json: str) -> None:
    """Enqueue a run of the settings' project, just stored for a worker."""
    with runs_queue(settings) as client:
        enqueue_run(client, run_id, settings.project.id, settings.repo_root, options_json)


def enqueue_forgotten(settings: Settings, database: Database, older_than: timedelta) -> list[str]:
    """Runs stored for a worker at least `older_than` ago and never enqueued (their process was
    killed in between): enqueued now, with their saved options. Projects without a known
    repository are left for when they are registered."""
    waiting = waiting_runs(database, utc_now() - older_than)
    if not waiting:
        return []
    enqueued = []
    with runs_queue(settings) as client:
        ids = [run_id for run_id, _, _ in waiting]
        known = {
            status.workflow_id
            for status in client.list_workflows(
                workflow_ids=ids, load_input=False, load_output=False
            )
        }
        for run_id, project_id, options_json in waiting:
            if run_id in known:
                continue
            repo = _repository(settings, database, project_id)
            if repo is not None:
                enqueue_run(client, run_id, project_id, repo, options_json)
                enqueued.append(run_id)
    return enqueued


def _repository(settings: Settings, database: Database, project_id: str) -> Path | None:
    if project_id == settings.project.id:
        return settings.repo_root
    return get_project(database, project_id).repo_path


def resume_on_queue(settings: Settings, database: Database, run_id: str) -> None:
    """Put a run of the settings' project back on the runs queue: carried on from its last
    checkpoint by a worker, or started with its saved options if it never was enqueued."""
    with runs_queue(settings) as client:
        found = client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
        if found and found[0].name != QUEUED_WORKFLOW:
            raise NotQueueable(
                f"run {run_id} was started by `autopack run`, not queued for a worker: "
                f"resume it with `autopack resume {run_id}` in its repository"
            )
        requeue(database, run_id)  # shown waiting before any worker can take it
        if not found:
            options = saved_options(database, run_id) or "{}"
            enqueue_run(client, run_id, settings.project.id, settings.repo_root, options)
        else:
            # Its unfinished phases wait aside until the worker that takes the run brings them.
            _move_phases(client, run_id, PARKED_QUEUE)
            # Its partition stays the one it was enqueued in.
            client.resume_workflow(run_id, queue_name=RUNS_QUEUE)


def bring_phases(settings: Settings, run_id: str, queue_name: str) -> None:
    """The run's unfinished phase workflows onto `queue_name`, the queue of the process that
    has just taken the run's lease: the phases of a run must run where the run runs (they share
    its ledger and its merge train, run/services.run_services). Through DBOS's client, so that
    it happens each time a workflow takes the run, never replayed from a checkpoint."""
    with runs_queue(settings) as client:
        _move_phases(client, run_id, queue_name)


def _move_phases(client: DBOSClient, run_id: str, queue_name: str) -> None:
    for child in client.list_workflows(
        parent_workflow_id=run_id,
        status=["PENDING", "ENQUEUED"],
        load_input=False,
        load_output=False,
    ):
        client.resume_workflow(child.workflow_id, queue_name=queue_name)
