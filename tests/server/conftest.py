"""Fixtures: the API served for the demo project, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack.testing.api_server import Api, start_api
from autopack.testing.postgres import PostgresServer


def _database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None  # the project's own SQLite file
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    yield from start_api(tmp_path, _database_url(request), monkeypatch)


@pytest.fixture
def sqlite_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from start_api(tmp_path, None, monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def idle_api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    """No worker: runs stay queued until the test acts on them. Both databases."""
    yield from start_api(tmp_path, _database_url(request), monkeypatch, run_worker=False)
