"""Run a prepared argv with a wall-clock limit, killing the whole process group on time-out or on
an interrupt of this process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from autopack.processes import executor_id
from autopack.verify.base import CommandResult, Limits
from autopack.verify.orphans import marked


class CommandsStopped(BaseException):
    """Raised instead of a result once this process is being interrupted: the killed command's
    outcome is no verdict on the code. A BaseException, like KeyboardInterrupt, so that no step
    records it as an outcome (a resume runs the command again)."""


class RunningCommands:
    """The process groups of the commands this process is running now.

    Each command runs in a session of its own, so the terminal's Ctrl-C never reaches it; an
    interrupted process ends them here, all at once, and starts no more.
    """

    def __init__(self) -> None:
        # Re-entrant: a second signal may stop them again while the first handler holds it.
        self._lock = threading.RLock()
        self._groups: set[int] = set()
        self._stopped = False

    @contextmanager
    def tracking(self, process: subprocess.Popen[str]) -> Iterator[None]:
        with self._lock:
            if self._stopped:
                _kill_group(process.pid)
            self._groups.add(process.pid)
        try:
            yield
        finally:
            with self._lock:
                self._groups.discard(process.pid)
        if self._stopped:
            raise CommandsStopped()

    def stop_all(self) -> None:
        """Kill every running command's process group; commands started from now on are killed
        at once. For a process that is about to exit."""
        with self._lock:
            self._stopped = True
            for group in self._groups:
                _kill_group(group)


# One per process, like the process's children themselves.
RUNNING = RunningCommands()


def stop_running_commands() -> None:
    RUNNING.stop_all()


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(group, signal.SIGKILL)


def _clip(text: str, limit: int) -> str:
    """Head and tail of long output: the start says what ran, the end says how it failed."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


def run_limited(
    argv: Sequence[str], *, cwd: Path, limits: Limits, env: Mapping[str, str]
) -> CommandResult:
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        # Its own session outlives a SIGKILL of this process: the mark lets the next one reap it.
        env=marked(env, executor_id()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    timed_out = False
    with RUNNING.tracking(process):
        try:
            stdout, stderr = process.communicate(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid)
            stdout, stderr = process.communicate()
        except BaseException:  # Ctrl-C in this thread (`autopack verify`): it must not outlive us
            _kill_group(process.pid)
            raise
    return CommandResult(
        exit_code=process.returncode if not timed_out else 124,
        stdout=_clip(stdout, limits.output_bytes),
        stderr=_clip(stderr, limits.output_bytes),
        seconds=round(time.monotonic() - started, 3),
        timed_out=timed_out,
    )
