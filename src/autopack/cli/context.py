"""What every command needs first: the repository, its settings and, when it exists, its database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autopack.config import Settings, find_repo_root, load_settings
from autopack.domain.issues import BacklogEntry
from autopack.store.engine import Database, database_exists, open_database
from autopack.store.issue_records import load_backlog


def settings_for(repo: Path | None) -> Settings:
    return load_settings(find_repo_root(repo if repo is not None else Path.cwd()))


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
