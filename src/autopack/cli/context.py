"""What every command needs first: the repository, its settings and, when it exists, its database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from autopack.config import Settings, find_repo_root, load_settings
from autopack.domain.issues import BacklogEntry
from autopack.errors import AutopackError
from autopack.llm.keys import redactor_for
from autopack.llm.redact import install_log_redaction
from autopack.store.engine import Database, database_exists, open_database
from autopack.store.issue_records import load_backlog


def settings_for(repo: Path | None) -> Settings:
    settings = load_settings(find_repo_root(repo if repo is not None else Path.cwd()))
    # The project's own aliases may name key variables the shipped ones do not: their values
    # must not reach a log line either, whatever their shape.
    # An unreadable key file is reported by the command that needs it.
    with suppress(AutopackError):
        install_log_redaction(redactor_for(settings.aliases, os.environ))
    return settings


@contextmanager
def database_for(settings: Settings) -> Iterator[Database]:
    database = open_database(settings.database_url)
    try:
        yield database
    finally:
        database.close()


def project_backlog(settings: Settings) -> list[BacklogEntry]:
    # Read-only commands must not create a database just to find it empty.
    if not database_exists(settings.database_url):
        return []
    with database_for(settings) as database:
        return load_backlog(database, settings.project.id)
