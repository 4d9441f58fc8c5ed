"""What tests do through the official MCP client: call tools, read resources, watch a run."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent, TextResourceContents

WATCH_SECONDS = 180


async def open_session(stack: AsyncExitStack, url: str, token: str) -> ClientSession:
    """An MCP session over streamable HTTP with a bearer token, closed with `stack`."""
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    await stack.enter_async_context(client)
    read, write = await stack.enter_async_context(streamable_http_client(url, http_client=client))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def refused(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The tool error's text: a refusal, never a traceback."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text = " ".join(c.text for c in result.content if isinstance(c, TextContent))
    assert "Traceback" not in text
    return text


async def read_text(session: ClientSession, uri: str) -> str:
    contents = (await session.read_resource(uri)).contents
    assert len(contents) == 1, contents
    assert isinstance(contents[0], TextResourceContents), contents
    return contents[0].text


async def watch_to_end(session: ClientSession, run_id: str) -> list[dict[str, Any]]:
    """Every progress event of the run, read with run_progress from event to event."""
    events: list[dict[str, Any]] = []
    after = 0
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        progress = await call(session, "run_progress", run_id=run_id, after=after, wait_seconds=5)
        ids = [event["id"] for event in progress["events"] if "id" in event]
        # Each event once, in order: what follows the last one seen, and the next id to ask from.
        seen = [event["id"] for event in events if "id" in event]
        assert ids == sorted(set(ids)), ids
        assert all(i > max(seen, default=0) for i in ids), (seen[-1:], ids)
        assert progress["last_event_id"] == max(seen + ids, default=0), progress
        events += progress["events"]
        after = progress["last_event_id"]
        if progress["finished"]:
            return events
    raise AssertionError(f"run {run_id} did not finish in {WATCH_SECONDS} s")
