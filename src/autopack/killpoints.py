"""Named instants at which a crash test has this process SIGKILLed, to prove a run recovers from
each: every step boundary of the run's workflow, each ledger row, the store-to-start gap, inside git
making a worktree, the terminal state.

`AUTOPACK_KILL_AT=<point>#<n>` kills the process the n-th time it reaches `<point>` (n from 1).
`AUTOPACK_KILL_TRACE=<file>` appends each point reached, one per line, so a kill-free run lists
every instant a test can then kill at. With neither set, reaching a point reads one variable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable

KILL_AT = "AUTOPACK_KILL_AT"
TRACE = "AUTOPACK_KILL_TRACE"

_lock = threading.Lock()
_reached: Counter[str] = Counter()


def reached(
    point: str,
    *,
    child: subprocess.Popen[str] | None = None,
    when: Callable[[], bool] | None = None,
) -> None:
    """Pass `point`. Killed there, a `child` doing the work is killed with this process, once
    `when` says it has begun (or it ended): the instant inside the child's work, as a power cut
    would take both."""
    kill_at, trace = os.environ.get(KILL_AT), os.environ.get(TRACE)
    if not kill_at and not trace:
        return
    with _lock:
        _reached[point] += 1
        count = _reached[point]
        if trace:
            with open(trace, "a", encoding="utf-8") as listing:
                listing.write(f"{point}#{count}\n")
        if kill_at != f"{point}#{count}":
            return
        if child is not None:
            deadline = time.monotonic() + 5
            while when is not None and not when() and child.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.0005)
            child.kill()
        os.kill(os.getpid(), signal.SIGKILL)
