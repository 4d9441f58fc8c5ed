"""What every request handler works with: the server's own project's settings, the database every
registered project shares, its worker; and the settings of any registered project."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from autopack.config import Settings
from autopack.store.engine import Database
from autopack.store.projects import get_project, project_settings


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

    def settings_of(self, project_id: str) -> Settings:
        """A registered project's settings, read from its autopack.toml now, on this database.

        NotFound for a project that is not registered.
        """
        if project_id == self.project_id:
            return self.settings
        return project_settings(get_project(self.database, project_id), self.settings)

    @property
    def worker_alive(self) -> bool | None:
        """None when this process runs no worker (separate `autopack worker` processes do)."""
        return None if self.worker_thread is None else self.worker_thread.is_alive()


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context
