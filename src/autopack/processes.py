"""This process as an executor of runs: its id, and whether another executor is still alive.

An executor id is `<hostname>-<pid>`. On this host a pid says for sure whether the process lives;
for another host only its heartbeats can tell.
"""

from __future__ import annotations

import os
import socket


def executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def executor_dead(identity: str) -> bool:
    """True only when `identity` names a process of this host that no longer runs."""
    host, _, pid = identity.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False
