"""A worker: takes queued runs one at a time and carries each to its end; adopts silent runs.

`autopack serve` runs one in a thread of its own process by default; `autopack worker` runs one
per process, as many as a team wants against one PostgreSQL. The claim on a queued run is a
compare-and-set in the database, so no two workers ever take the same run, and it is fair across
projects (store/queue.py).

A worker executes the runs of every registered project (store/projects.py), each in its own
repository with its own settings, on the worker's database.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from autopack.config import Settings
from autopack.errors import AutopackError
from autopack.processes import executor_id
from autopack.run.execute import RunEnd, execute_run, sweep_and_resume
from autopack.run.services import RunOptions
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.projects import get_project, list_projects, project_of_run, project_settings
from autopack.store.queue import claim_next, requeue

log = logging.getLogger(__name__)

DATABASE_VARIABLE = "AUTOPACK_DATABASE_URL"
_ENVIRONMENT = threading.Lock()


def _settings_for(database: Database, settings: Settings, project_id: str) -> Settings:
    """The settings a run of `project_id` executes with here: the worker's own project's, or the
    registered repository's with this worker's database and clocks."""
    if project_id == settings.project.id:
        return settings
    return project_settings(get_project(database, project_id), settings, to_resume=True)


@contextmanager
def _database_for_workflows(project: Settings, url: str) -> Iterator[None]:
    """Make the run's workflow find this worker's database.

    The workflow loads its process settings from the repository's path and the environment (a
    database URL is never stored with a run): for another project's repository without
    AUTOPACK_DATABASE_URL, that would be its own SQLite file, which does not hold the run.
    """
    if database_url_for(project.repo_root, os.environ) == url:
        yield
        return
    with _ENVIRONMENT:
        before = os.environ.get(DATABASE_VARIABLE)
        os.environ[DATABASE_VARIABLE] = url
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(DATABASE_VARIABLE, None)
            else:
                os.environ[DATABASE_VARIABLE] = before


def run_next(settings: Settings) -> RunEnd | None:
    """Claim the next queued run (fairly across projects) and execute it in its own project's
    repository; None when the queue is empty."""
    database = open_database(settings.database_url)
    try:
        claimed = claim_next(database, executor_id())
        if claimed is None:
            return None
        run_id, options_json = claimed
        try:
            project = _settings_for(database, settings, project_of_run(database, run_id))
        except AutopackError:
            # Not runnable here (its project has no registered repository, or its autopack.toml
            # names another project now): back in line, for a worker that can, or a person.
            requeue(database, run_id)
            raise
    finally:
        database.close()
    with _database_for_workflows(project, settings.database_url):
        return execute_run(project, run_id, RunOptions.model_validate_json(options_json))


def sweep_every_project(settings: Settings, stale_after: timedelta) -> list[RunEnd]:
    """Adopt the silent runs of this worker's project and of every registered one."""
    ends = sweep_and_resume(settings, stale_after)
    database = open_database(settings.database_url)
    try:
        others = [
            p
            for p in list_projects(database)
            if p.registered and p.project_id != settings.project.id
        ]
    finally:
        database.close()
    for record in others:
        try:
            project = project_settings(record, settings, to_resume=True)
            with _database_for_workflows(project, settings.database_url):
                ends.extend(sweep_and_resume(project, stale_after))
        except AutopackError:
            log.exception("cannot sweep project %s", record.project_id)
    return ends


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
            adopted = [] if end else sweep_every_project(settings, stale_after)
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
