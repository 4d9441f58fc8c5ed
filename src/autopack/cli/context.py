"""What every command needs first: the repository, its settings and, when it exists, its database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autopack.config import Settings, find_repo_root, load_settings
from autopack.domain.issues import BacklogEntry
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.issue_records import load_backlog

DEFAULT_DB_FILE = Path(".autopack") / "autopack.db"


def settings_for(repo: Path | None) -> Settings:
    return load_settings(find_repo_root(repo if repo is not None else Path.cwd()))


@contextmanager
def database_for(settings: Settings) -> Iterator[Database]:
    database = open_database(database_url_for(settings.repo_root, os.environ))
    try:
        yield database
    finally:
        database.close()


def has_database(settings: Settings) -> bool:
    """Whether a database already exists, so read-only commands need not create one."""
    return (
        bool(os.environ.get("AUTOPACK_DATABASE_URL"))
        or (settings.repo_root / DEFAULT_DB_FILE).exists()
    )


def project_backlog(settings: Settings) -> list[BacklogEntry]:
    if not has_database(settings):
        return []
    with database_for(settings) as database:
        return load_backlog(database, settings.project.id)
