"""The FastAPI application: the API routers, problem documents, CORS (off unless configured), the
dashboard, and the in-process worker that `autopack serve` runs by default."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from autopack import __version__
from autopack.config import Settings
from autopack.run.worker import work
from autopack.server import (
    api_builders,
    api_docs,
    api_events,
    api_projects,
    api_reports,
    api_run_records,
    api_runs,
    api_upstream,
    dashboard,
    metrics,
    problems,
)
from autopack.server.body_limit import BodyLimit
from autopack.server.context import ServerContext
from autopack.server.headers import SecurityHeaders
from autopack.server.http_protocol import header_deadline_protocol
from autopack.store.projects import register_project

DESCRIPTION = """Start, watch and steer Autopack runs. Every endpoint but `/health` needs a bearer
token (`autopack token create --name N --scope read|write`); read tokens cannot start, cancel,
resume or promote runs. Errors are RFC 9457 problem documents."""


def create_app(context: ServerContext, *, run_worker: bool = False) -> FastAPI:
    # The server's own repository is a registered project like any other, so its runs, backlog
    # and tokens' limits name it; registering it again changes nothing.
    register_project(context.database, context.settings.repo_root)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_worker:
            context.worker_thread = threading.Thread(
                target=work,
                args=(context.settings, context.stop),
                name="autopack-worker",
                daemon=True,
            )
            context.worker_thread.start()
        try:
            yield
        finally:
            context.stop.set()
            if context.worker_thread is not None:
                # A run in progress keeps its checkpoints; another worker recovers it (run/recovery.py).
                context.worker_thread.join(timeout=5)

    app = FastAPI(
        title="Autopack",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's Swagger UI and ReDoc pages load their code from a CDN; /docs is ours.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    problems.install(app)
    server = context.settings.server
    app.add_middleware(
        BodyLimit, max_bytes=server.max_body_bytes, timeout_seconds=server.body_timeout_seconds
    )
    if context.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(context.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    app.include_router(api_reports.router)
    app.include_router(api_projects.router)
    app.include_router(api_upstream.router)  # before /runs/{run_id}: /runs/start is its own
    app.include_router(api_runs.router)
    app.include_router(api_run_records.router)
    app.include_router(api_events.router)
    app.include_router(api_builders.router)
    app.include_router(metrics.router)
    app.include_router(api_docs.router)
    dashboard.install(app)
    # Added last so it is outermost: refusals by the middlewares above carry the headers too.
    app.add_middleware(SecurityHeaders)
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn settings `autopack serve` runs with (and the tests' servers, like it)."""
    return {"http": header_deadline_protocol(settings.server.header_timeout_seconds)}
