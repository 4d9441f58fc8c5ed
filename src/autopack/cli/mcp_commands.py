"""`autopack mcp`: the MCP server, for Claude Code, Codex and any MCP client (docs/mcp.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autopack.cli.context import settings_for
from autopack.cli.errors import reports_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    def mcp(
        repo: Annotated[
            Path | None,
            typer.Option("--repo", help="The project's git repository (default: the one here)."),
        ] = None,
        http: Annotated[
            bool,
            typer.Option("--http", help="Serve streamable HTTP at /mcp, behind API tokens."),
        ] = False,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8766,
        no_worker: Annotated[
            bool,
            typer.Option(
                "--no-worker",
                help="Run no worker here (`autopack serve` or `autopack worker` executes runs).",
            ),
        ] = False,
    ) -> None:
        """Serve the MCP tools and resources: start, watch, steer and promote runs.

        Over stdio (the default) an MCP client starts this command and acts as you, on this
        project and every registered one. With --http, clients connect to
        http://HOST:PORT/mcp and send an API token (`autopack token create`): read tokens look,
        write tokens also act. Runs started here execute on a worker in this process unless
        --no-worker.
        """
        from autopack.mcp_server.transports import MCP_PATH, http_app, serve_stdio, worker_running
        from autopack.server.app import server_options
        from autopack.server.context import ServerContext
        from autopack.store.engine import open_database

        settings = settings_for(repo)
        database = open_database(settings.database_url)
        context = ServerContext(settings=settings, database=database)
        try:
            if not http:
                serve_stdio(context, run_worker=not no_worker)
                return
            import uvicorn

            app_ = http_app(context, host=host)
            typer.echo(f"autopack MCP on http://{host}:{port}{MCP_PATH}", err=True)
            with worker_running(context, not no_worker):
                uvicorn.run(
                    app_, host=host, port=port, log_level="warning", **server_options(settings)
                )
        finally:
            database.close()
