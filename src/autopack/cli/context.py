"""What every command needs first: the repository, its settings and, when it exists, its database.

The settings and the database layer are imported when a command asks for them, not when the CLI
starts: `autopack --help` must not pay for SQLAlchemy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from autopack.errors import AutopackError
from autopack.llm.keys import redactor_for
from autopack.llm.redact import install_log_redaction

if TYPE_CHECKING:
    from autopack.config import Settings
    from autopack.domain.issues import BacklogEntry
    from autopack.store.engine import Database


def settings_for(repo: Path | None) -> Settings:
    from autopack.config import find_repo_root, load_settings

    settings = load_settings(find_repo_root(repo if repo is not None else Path.cwd()))
    # The project's own aliases may name key variables the shipped ones do not: their values
    # must not reach a log line either, whatever their shape.
    # An unreadable key file is reported by the command that needs it.
    with suppress(AutopackError):
        install_log_redaction(redactor_for(settings.aliases, os.environ))
    return settings


@contextmanager
def database_for(settings: Settings) -> Iterator[Database]:
    from autopack.store.engine import open_database

    database = open_database(settings.database_url)
    try:
        yield database
    finally:
        database.close()


def project_backlog(settings: Settings) -> list[BacklogEntry]:
    from autopack.store.engine import database_exists
    from autopack.store.issue_records import load_backlog

    # Read-only commands must not create a database just to find it empty.
    if not database_exists(settings.database_url):
        return []
    with database_for(settings) as database:
        return load_backlog(database, settings.project.id)
