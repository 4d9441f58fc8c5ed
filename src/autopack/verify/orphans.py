"""Checks left running by an Autopack process that died: found by the owner mark in their
environment, and killed by the next process that takes a run on this machine.

An unsandboxed check runs in a session of its own (so a terminal's Ctrl-C reaches Autopack, not
the check), and a SIGKILL of Autopack therefore leaves it running. Bubblewrap's checks die with
their parent; these cannot, so they carry `AUTOPACK_OWNER=<executor id>` and are reaped here.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

OWNER_VARIABLE = "AUTOPACK_OWNER"
_PROC = Path("/proc")


def marked(env: Mapping[str, str], owner: str) -> dict[str, str]:
    """The environment a check runs with, naming the process that started it."""
    return {**env, OWNER_VARIABLE: owner}


def _owner_of(pid: int) -> str | None:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone meanwhile, or another user's process
        return None
    prefix = f"{OWNER_VARIABLE}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return None


def reap_orphans(is_dead: Callable[[str], bool]) -> list[int]:
    """Kill every process whose owner mark names an executor `is_dead` says is gone; their pids.

    Without /proc (not Linux) there is nothing to read, and nothing is reaped.
    """
    if not _PROC.is_dir():
        return []
    reaped = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        owner = _owner_of(int(entry.name))
        if owner is not None and is_dead(owner):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                reaped.append(int(entry.name))
    return reaped
