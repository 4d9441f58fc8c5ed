"""A throwaway PostgreSQL server from the Debian binaries, on 127.0.0.1, for tests and benchmarks."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

SERVICE_USER = "postgres"


def find_postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    on_path = shutil.which("pg_ctl")
    if on_path and Path(on_path).with_name("initdb").exists():
        return Path(on_path).resolve().parent
    return None


def postgres_unavailable_reason() -> str | None:
    if find_postgres_bin() is None:
        return "PostgreSQL server binaries not found (install Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return "running as root but there is no 'postgres' user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root; the Debian package's postgres user owns the cluster instead.
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVICE_USER, "--", *command]
    return ["su", SERVICE_USER, "-s", "/bin/sh", "-c", " ".join(command)]


def _run_as_server_user(command: list[str]) -> None:
    completed = subprocess.run(
        _as_server_user(command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {completed.stderr.strip()}")


@dataclass(frozen=True)
class PostgresServer:
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    def create_database(self) -> str:
        """A fresh, empty database on this server; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={SERVICE_USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{self.port}/{name}"


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a private cluster (trust auth, loopback only), yield it, stop it and delete it."""
    reason = postgres_unavailable_reason()
    binaries = find_postgres_bin()
    if reason is not None or binaries is None:
        raise RuntimeError(reason or "PostgreSQL binaries not found")
    root = Path(tempfile.mkdtemp(prefix="autopack-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        for path in (root, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        _run_as_server_user(
            [str(binaries / "initdb"), "-A", "trust", "-U", SERVICE_USER, "-D", str(data)]
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c full_page_writes=off"
        start = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        _run_as_server_user([*start, "-w", "start"])
        yield PostgresServer(port=port)
    finally:
        if data.exists():
            subprocess.run(
                _as_server_user(
                    [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
