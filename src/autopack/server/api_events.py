"""Server-sent events: one run's progress, or every run's, read from the store as it grows.

The rows are what the CLI's live view prints, so every watcher sees the same stream. A client that
reconnects with Last-Event-ID gets what it missed. A run's stream ends after its terminal event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from autopack.server.api_runs import RunId, record_of
from autopack.server.auth import Reader
from autopack.server.context import context_of
from autopack.store.engine import Database
from autopack.store.progress import ProgressEvent, last_progress_id, progress_after
from autopack.store.runs import get_run

# Event ids are the store's 64-bit row ids, in ASCII digits: anything else is refused at the door.
EVENT_ID = r"^[0-9]{1,18}$"
MAX_EVENT_ID = 10**18 - 1

router = APIRouter(tags=["events"])

POLL_SECONDS = 0.2
PING_SECONDS = 15
FINAL_KIND = "run_finished"


def _message(event: ProgressEvent) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.as_message(), default=str), event=event.kind, id=str(event.id)
    )


def _start(after: int | None, last_event_id: str | None, default: int) -> int:
    if last_event_id is not None:
        return int(last_event_id)
    return after if after is not None else default


async def _stream(
    database: Database,
    request: Request,
    after: int,
    run_id: str | None,
    project_ids: Sequence[str] | None = None,
) -> AsyncIterator[ServerSentEvent]:
    while not await request.is_disconnected():
        events = await run_in_threadpool(
            progress_after, database, after, run_id=run_id, project_ids=project_ids
        )
        for event in events:
            after = event.id
            yield _message(event)
            if run_id is not None and event.kind == FINAL_KIND:
                return
        if run_id is not None and not events:
            record = await run_in_threadpool(get_run, database, run_id)
            if record.state.is_terminal:
                # Ended without a final event in the store (cancelled before it started).
                yield ServerSentEvent(
                    data=json.dumps(
                        {"kind": FINAL_KIND, "run_id": run_id, "state": record.state.value}
                    ),
                    event=FINAL_KIND,
                )
                return
        await asyncio.sleep(POLL_SECONDS)


@router.get("/runs/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    run_id: RunId,
    request: Request,
    caller: Reader,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="Replay events after this id")
    ] = 0,
    last_event_id: Annotated[str | None, Header(pattern=EVENT_ID)] = None,
) -> EventSourceResponse:
    """The run's events from the start (or after an id), then live until it ends."""
    context = context_of(request)
    database = context.database
    # 404 before the stream opens, for a run that is absent or of a project the token cannot see.
    await run_in_threadpool(record_of, context, run_id, caller)
    start = _start(after, last_event_id, 0)
    return EventSourceResponse(_stream(database, request, start, run_id), ping=PING_SECONDS)


@router.get("/events", response_class=EventSourceResponse)
async def all_events(
    request: Request,
    caller: Reader,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="Replay events after this id")
    ] = None,
    last_event_id: Annotated[str | None, Header(pattern=EVENT_ID)] = None,
) -> EventSourceResponse:
    """Every run's events from now on (or after an id); a token limited to projects gets theirs."""
    database = context_of(request).database
    now = await run_in_threadpool(last_progress_id, database)
    start = _start(after, last_event_id, now)
    return EventSourceResponse(
        _stream(database, request, start, None, caller.projects), ping=PING_SECONDS
    )
