"""Shared fixtures: real databases (SQLite always, PostgreSQL when its binaries exist), no internet."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autopack.store.engine import Database, open_database
from autopack.testing.postgres import PostgresServer, postgres_unavailable_reason, running_postgres
from autopack.verify.bubblewrap import BubblewrapSandbox, SandboxUnavailable


def _loopback_only(original: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"tests may only connect to loopback, not {host}")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
        yield


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reason = postgres_unavailable_reason()
    if reason is not None:
        if os.environ.get("AUTOPACK_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unavailable: {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with running_postgres() as server:
        yield server


@pytest.fixture
def sandbox() -> BubblewrapSandbox:
    """The real bubblewrap sandbox; a visible skip without it, a failure where CI requires it."""
    try:
        return BubblewrapSandbox()
    except SandboxUnavailable as error:
        if os.environ.get("AUTOPACK_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"bubblewrap is required here but unavailable: {error}")
        pytest.skip(f"sandbox tests skipped: {error}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'autopack.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    root = tmp_path / "todo-app"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary folder on /dev/shm when there is one: git worktrees are much faster there."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="autopack-test-") as folder:
        yield Path(folder)
