"""What every request handler works with: the project's settings, its database, its worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from autopack.config import Settings
from autopack.store.engine import Database


@dataclass
class ServerContext:
    settings: Settings
    database: Database
    cors_origins: tuple[str, ...] = ()
    worker_thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def project_id(self) -> str:
        return self.settings.project.id

    @property
    def worker_alive(self) -> bool | None:
        """None when this process runs no worker (separate `autopack worker` processes do)."""
        return None if self.worker_thread is None else self.worker_thread.is_alive()


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context
