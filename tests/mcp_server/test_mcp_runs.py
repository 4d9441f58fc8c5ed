"""A run driven end to end through the official MCP client: `autopack mcp` over stdio (a real
subprocess) and over streamable HTTP with the API's tokens and their scopes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO

import anyio
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

import autopack
from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.vocabulary import TokenScope
from autopack.mcp_server.transports import MCP_PATH, http_app, worker_running
from autopack.server.app import server_options
from autopack.server.context import ServerContext
from autopack.store.engine import open_database
from autopack.store.projects import register_project
from autopack.store.tokens import create_token
from autopack.testing.fake_llm import FakeLLMServer
from autopack.testing.git_repos import git
from autopack.testing.http_server import serving
from autopack.testing.mcp_calls import call, open_session, read_text, refused, watch_to_end

SOURCE = str(Path(autopack.__file__).resolve().parents[1])
PLAN = "comprehensive_plan.md"
OTHER = "calc-two"


def _demo(root: Path, llm: FakeLLMServer, project_id: str | None = None) -> Path:
    create_project(root, extra_config=aliases_on(llm.openai_base_url))
    if project_id is not None:
        config = root / "autopack.toml"
        config.write_text(config.read_text().replace('id = "calc-demo"', f'id = "{project_id}"'))
        git(root, "-c", "user.name=T", "-c", "user.email=t@t.invalid", "commit", "-qam", "own id")
    return root


def _rev(root: Path, ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", ref], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


async def _complete_run(session: ClientSession, root: Path) -> str:
    """Start the demo plan, watch it to its end, read what it did, promote it."""
    started = await call(session, "start_run", plan=PLAN)
    run_id = started["run_id"]
    assert started["queued"] is True
    events = await watch_to_end(session, run_id)
    assert events[0]["kind"] == "run_started", events[0]
    assert events[-1]["kind"] == "run_finished"
    assert events[-1]["state"] == "DONE_SUCCESS", events[-1]
    # Watching on from the last event id gives nothing more.
    last = events[-1]["id"]
    rest = await call(session, "run_progress", run_id=run_id, after=last)
    assert rest["events"] == []
    assert rest["finished"] is True
    assert rest["last_event_id"] == last

    status = await call(session, "run_status", run_id=run_id)
    assert status["run"]["state"] == "DONE_SUCCESS"
    assert [p["state"] for t in status["tiers"] for p in t["phases"]] == ["COMPLETE"] * 4
    issues = await call(session, "run_issues", run_id=run_id)
    assert issues["run_id"] == run_id
    assert issues["major_count"] == 0
    summary = await read_text(session, f"autopack://runs/{run_id}/summary")
    assert "DONE_SUCCESS" in summary
    strategy = json.loads(await read_text(session, f"autopack://runs/{run_id}/strategy"))
    assert [p["phase_id"] for t in strategy["tiers"] for p in t["phases"]] == [
        "1.1",
        "1.2",
        "2.1",
        "2.2",
    ]
    assert json.loads(await read_text(session, f"autopack://runs/{run_id}/incidents")) == []
    backlog = json.loads(await read_text(session, "autopack://projects/calc-demo/backlog"))
    assert isinstance(backlog, list)

    before = _rev(root, "HEAD")
    promoted = await call(session, "promote_run", run_id=run_id)
    assert promoted["head"] == _rev(root, promoted["into"]) != before
    assert _rev(root, f"autopack/{run_id}") in git(root, "rev-list", promoted["into"])
    return run_id


def test_a_run_is_started_watched_read_and_promoted_over_stdio(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    root = _demo(tmp_path / "calc", llm)
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "autopack", "mcp", "--repo", str(root)],
        # This checkout's autopack, whatever the working directory.
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
        },
        cwd=tmp_path,
    )

    async def drive(log: IO[str]) -> None:
        async with (
            stdio_client(server, errlog=log) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert {"start_run", "run_progress", "promote_run", "cancel_run"} <= tools
            run_id = await _complete_run(session, root)
            assert "no run 'r-none'" in await refused(session, "run_status", run_id="r-none")
            # Acting tools answer a refusal as a tool error too.
            assert "already ended DONE_SUCCESS" in await refused(
                session, "resume_run", run_id=run_id
            )

    with (tmp_path / "mcp-stderr.log").open("w") as log:
        anyio.run(drive, log)


def test_over_http_tokens_read_act_and_see_only_their_projects(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    root = _demo(tmp_path / "calc", llm)
    settings = load_settings(root)
    database = open_database(settings.database_url)
    register_project(database, root)
    register_project(database, _demo(tmp_path / "two", llm, OTHER))
    writer, _ = create_token(database, "mcp-write", TokenScope.WRITE)
    reader, _ = create_token(database, "mcp-read", TokenScope.READ)
    limited, _ = create_token(database, "two-only", TokenScope.WRITE, [OTHER])
    context = ServerContext(settings=settings, database=database)

    async def drive(url: str) -> None:
        async with AsyncExitStack() as stack:
            acting = await open_session(stack, url, writer)
            run_id = await _complete_run(acting, root)

            looking = await open_session(stack, url, reader)
            listed = await call(looking, "list_runs")
            assert [r["run_id"] for r in listed["runs"]] == [run_id]
            assert (await call(looking, "run_status", run_id=run_id))["run"]["state"] == (
                "DONE_SUCCESS"
            )
            for tool, arguments in (
                ("start_run", {"plan": PLAN}),
                ("promote_run", {"run_id": run_id}),
                ("cancel_run", {"run_id": run_id}),
            ):
                assert "may only read" in await refused(looking, tool, **arguments)

            other = await open_session(stack, url, limited)
            assert (await call(other, "list_runs"))["total"] == 0
            assert f"no run {run_id!r}" in await refused(other, "run_status", run_id=run_id)
            assert "no run" in await refused(other, "run_progress", run_id=run_id)
            assert "limited to projects" in await refused(other, "start_run", plan=PLAN)
            with pytest.raises(MCPError, match="no run"):
                await other.read_resource(f"autopack://runs/{run_id}/summary")
            with pytest.raises(MCPError, match="no project"):
                await other.read_resource("autopack://projects/calc-demo/backlog")

    try:
        with (
            worker_running(context, True),
            serving(http_app(context), **server_options(settings)) as base,
        ):
            url = base + MCP_PATH
            # No token, or a wrong one: refused before any MCP message is read.
            initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
            accept = {"Accept": "application/json, text/event-stream"}
            with httpx2.Client(timeout=30) as client:
                assert client.post(url, json=initialize, headers=accept).status_code == 401
                wrong = {**accept, "Authorization": "Bearer apk_0000_nope"}
                assert client.post(url, json=initialize, headers=wrong).status_code == 401
            anyio.run(drive, url)
    finally:
        database.close()
