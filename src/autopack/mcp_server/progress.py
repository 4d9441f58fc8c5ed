"""A run's progress for a watcher that asks again and again: the events after the last one it
saw, and whether the run has ended, so that its last answer holds the run's final event."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from autopack.domain.states import RunState
from autopack.store.engine import Database
from autopack.store.progress import has_progress, progress_after
from autopack.store.runs import get_run

FINAL_KIND = "run_finished"  # as the API's event streams end on it
POLL_SECONDS = 0.2
# finish_run (run/lifecycle.py) commits the run's terminal state a moment before its final event.
FINAL_EVENT_GRACE_SECONDS = 5.0


class Progress(BaseModel):
    run_id: str
    events: list[dict[str, Any]] = Field(
        description="Events after `after`, oldest first: each has id, kind, run_id and details"
    )
    last_event_id: int = Field(description="Pass as `after` next time to get what follows")
    state: RunState
    finished: bool = Field(description="The run has ended: this answer holds its final event")


def read_progress(
    database: Database, run_id: str, after: int, wait_seconds: float, limit: int
) -> Progress:
    """Events after `after`, waiting up to `wait_seconds` for a first one while the run lives."""
    deadline = time.monotonic() + wait_seconds
    while True:
        # The state first: the events read next hold all the run wrote before it.
        state = get_run(database, run_id).state
        events = progress_after(database, after, run_id=run_id, limit=limit)
        if events or state.is_terminal or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    messages = [event.as_message() for event in events]
    last_id = events[-1].id if events else after
    finished = any(event.kind == FINAL_KIND for event in events)
    if (
        state.is_terminal
        and not finished
        and not events
        and has_progress(database, run_id, FINAL_KIND)
    ):
        finished = True  # the watcher has seen the final event already
    if state.is_terminal and not finished and len(events) < limit:
        settle = time.monotonic() + FINAL_EVENT_GRACE_SECONDS
        while not finished and time.monotonic() < settle:
            time.sleep(POLL_SECONDS)
            more = progress_after(database, last_id, run_id=run_id, limit=limit - len(messages))
            messages += [event.as_message() for event in more]
            last_id = more[-1].id if more else last_id
            finished = any(event.kind == FINAL_KIND for event in more)
        if not finished:
            # Ended with no final event (cancelled before it started): told as the API tells it.
            messages.append({"kind": FINAL_KIND, "run_id": run_id, "state": state.value})
            finished = True
    return Progress(
        run_id=run_id, events=messages, last_event_id=last_id, state=state, finished=finished
    )
