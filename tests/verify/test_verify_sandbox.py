"""The bubblewrap sandbox really isolates: no network, no writes outside the worktree, limits hold."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack.verify.base import Limits
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox, SandboxUnavailable

ENV = {"PATH": os.environ["PATH"], "HOME": "/tmp"}


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    folder = tmp_path / "worktree"
    folder.mkdir()
    return folder


@pytest.fixture
def listening_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def python(code: str) -> str:
    return f"{sys.executable} -c {code!r}"


def test_loopback_is_reachable_outside_but_not_inside(
    sandbox: BubblewrapSandbox, worktree: Path, listening_port: int
) -> None:
    probe = python(
        f"import socket; socket.create_connection(('127.0.0.1', {listening_port}), timeout=2); print('connected')"
    )
    outside = NoSandbox().run(probe, cwd=worktree, writable=[], limits=Limits(), env=ENV)
    assert "connected" in outside.stdout
    inside = sandbox.run(probe, cwd=worktree, writable=[], limits=Limits(), env=ENV)
    assert inside.exit_code != 0
    assert "connected" not in inside.stdout


def test_only_the_worktree_is_writable(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    outside = Path("/var/tmp") / f"autopack-sandbox-escape-{os.getpid()}.txt"
    result = sandbox.run(
        f"echo inside > made.txt; echo x > {outside}; echo y > /tmp/private.txt; cat /tmp/private.txt",
        cwd=worktree,
        writable=[],
        limits=Limits(),
        env=ENV,
    )
    assert (worktree / "made.txt").read_text() == "inside\n"
    assert not outside.exists()
    assert "Read-only file system" in result.stderr
    assert "y" in result.stdout
    assert not Path("/tmp/private.txt").exists()


def test_wall_clock_limit_kills_the_command(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    result = sandbox.run(
        "sleep 30", cwd=worktree, writable=[], limits=Limits(wall_seconds=1), env=ENV
    )
    assert result.timed_out
    assert result.exit_code == 124
    assert result.seconds < 10


def test_file_size_limit(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    limits = Limits(file_size_bytes=1024 * 1024)
    result = sandbox.run(
        "head -c 3000000 /dev/zero > big.bin", cwd=worktree, writable=[], limits=limits, env=ENV
    )
    assert result.exit_code != 0
    assert (worktree / "big.bin").stat().st_size <= 1024 * 1024


def test_memory_limit(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    limits = Limits(memory_bytes=300 * 1024 * 1024)
    result = sandbox.run(
        python("b = bytearray(800 * 1024 * 1024)"),
        cwd=worktree,
        writable=[],
        limits=limits,
        env=ENV,
    )
    assert result.exit_code != 0
    assert "MemoryError" in result.stderr


def test_long_output_keeps_head_and_tail(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    result = sandbox.run(
        "seq 1 100000", cwd=worktree, writable=[], limits=Limits(output_bytes=1000), env=ENV
    )
    assert result.stdout.startswith("1\n2\n")
    assert result.stdout.rstrip().endswith("100000")
    assert "characters cut" in result.stdout


def test_missing_bubblewrap_says_how_to_install_or_opt_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable) as caught:
        BubblewrapSandbox()
    assert "apt-get install bubblewrap" in str(caught.value)
    assert "--no-sandbox" in str(caught.value)


def test_private_tmp_still_shows_tools_on_path(
    sandbox: BubblewrapSandbox, worktree: Path, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "hello-tool").write_text("#!/bin/sh\necho tool ran\n")
    (tools / "hello-tool").chmod(0o755)
    hidden = tmp_path / "elsewhere.txt"
    hidden.write_text("not for the sandbox\n")
    env = {**ENV, "PATH": f"{tools}:{ENV['PATH']}"}
    result = sandbox.run(
        f"hello-tool; cat {hidden}", cwd=worktree, writable=[], limits=Limits(), env=env
    )
    assert "tool ran" in result.stdout
    assert "not for the sandbox" not in result.stdout
    assert "No such file" in result.stderr
