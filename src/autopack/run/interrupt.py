"""A process interrupted while it drives runs (Ctrl-C, SIGTERM): the runs it drives, and their
record as interrupted, so that `status` says so and `resume` carries them on.

Which runs a process drives is process state, like its children: `execute_run` registers each run
for as long as it drives it. An interrupt is recorded, not a state change: the run stays in the
state it stopped in, resumable from its last checkpoint; the mark goes when it is driven again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autopack.config import Settings
from autopack.store.checkpoints import clear_interrupted, mark_interrupted
from autopack.store.engine import open_database


@dataclass(frozen=True)
class DrivenRun:
    run_id: str
    repo_root: Path
    database_url: str


class DrivenRuns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, DrivenRun] = {}

    @contextmanager
    def driving(self, settings: Settings, run_id: str) -> Iterator[None]:
        """While the block runs, this process drives the run (and the run is no longer marked)."""
        # Registered first: an interrupt from here on names the run, whatever else is under way.
        with self._lock:
            self._runs[run_id] = DrivenRun(run_id, settings.repo_root, settings.database_url)
        try:
            database = open_database(settings.database_url)
            try:
                clear_interrupted(database, run_id)
            finally:
                database.close()
            yield
        finally:
            with self._lock:
                self._runs.pop(run_id, None)

    def now(self) -> list[DrivenRun]:
        with self._lock:
            return list(self._runs.values())


# One per process, like the runs it executes.
DRIVEN = DrivenRuns()


def record_interrupted(runs: list[DrivenRun], *, wait_seconds: float) -> bool:
    """Mark the runs interrupted; False if that took longer than `wait_seconds` (a database busy
    past it). The writes happen on a thread of their own, so the caller can still take signals."""

    def write() -> None:
        for url in {run.database_url for run in runs}:
            database = open_database(url)
            try:
                mark_interrupted(database, [run.run_id for run in runs if run.database_url == url])
            finally:
                database.close()

    writer = threading.Thread(target=write, name="record-interrupt", daemon=True)
    writer.start()
    writer.join(wait_seconds)
    return not writer.is_alive()
