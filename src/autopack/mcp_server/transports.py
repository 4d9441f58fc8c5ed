"""The MCP server over stdio (the local user's own projects) or streamable HTTP (API tokens), with
an in-process worker that executes the runs it starts, as `autopack serve` has one.

HTTP is served by `autopack mcp --http` at /mcp, on its own port, beside or instead of
`autopack serve`: both read and write the same database and honour the same tokens.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl
from starlette.applications import Starlette

from autopack import __version__
from autopack.mcp_server.access import ApiTokens, CallerOf, local_caller, token_caller
from autopack.mcp_server.resources import register_resources
from autopack.mcp_server.tools import register_tools
from autopack.run.worker import work
from autopack.server.context import ServerContext
from autopack.store.projects import register_project

NAME = "autopack"
MCP_PATH = "/mcp"
INSTRUCTIONS = """Autopack turns a written plan into tested, reviewed commits by AI coding agents,
under budgets, policy and audit. start_run queues a run; run_progress (with the last event id)
watches it until finished; run_status, run_issues and the autopack://runs/{run_id}/… resources
read what it did; promote_run merges its integration branch when it ended DONE_SUCCESS."""


def build_server(context: ServerContext, caller_of: CallerOf, **options: Any) -> MCPServer[Any]:
    """The tools and resources on one server; `options` are MCPServer's (auth, lifespan)."""
    # The server's own repository is a registered project like any other (as create_app has it).
    register_project(context.database, context.settings.repo_root)
    server: MCPServer[Any] = MCPServer(
        NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        # The SDK would set up INFO logging for the whole process; the project keeps its own.
        log_level="WARNING",
        **options,
    )
    register_tools(server, context, caller_of)
    register_resources(server, context, caller_of)
    return server


@contextmanager
def worker_running(context: ServerContext, enabled: bool) -> Iterator[None]:
    """An in-process worker for the context's database while inside, when `enabled`."""
    if not enabled:
        yield
        return
    context.worker_thread = threading.Thread(
        target=work, args=(context.settings, context.stop), name="autopack-worker", daemon=True
    )
    context.worker_thread.start()
    try:
        yield
    finally:
        context.stop.set()
        # A run in progress keeps its checkpoints; another worker recovers it (run/recovery.py).
        context.worker_thread.join(timeout=5)


def serve_stdio(context: ServerContext, *, run_worker: bool) -> None:
    """Serve the local user over stdin/stdout until the client closes them."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        # Started once the SDK has moved fd 1 aside: a check's stray output cannot reach the wire.
        with worker_running(context, run_worker):
            yield

    build_server(context, local_caller, lifespan=lifespan).run("stdio")


def http_app(context: ServerContext, *, host: str = "127.0.0.1") -> Starlette:
    """Streamable HTTP at /mcp behind the API's bearer tokens. The worker is the caller's to run
    (worker_running): a lifespan here would run once per MCP session."""
    server = build_server(
        context,
        token_caller,
        token_verifier=ApiTokens(context.database),
        auth=AuthSettings(
            # The SDK wants an issuer; ours is `autopack token create`, and with no
            # resource_server_url it is advertised nowhere.
            issuer_url=AnyHttpUrl("http://127.0.0.1"),
            resource_server_url=None,
            required_scopes=["read"],
        ),
    )
    # On 127.0.0.1 the SDK also refuses other Host and Origin headers (DNS rebinding).
    return server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
