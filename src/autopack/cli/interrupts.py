"""Ctrl-C (or SIGTERM) during a command that drives runs: stop at once, say how to resume, exit 130.

The first signal kills every running command's process group, records the driven runs as
interrupted and prints one line: the run and the command that resumes it. The process then ends
as a kill would, without unwinding the durable executor: what was checkpointed stays, the step in
flight runs again on resume (so no DBOS warning, no waiting for threads, no traceback). A second
signal ends the process at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, ParamSpec, TypeVar

# Imported when a signal comes (by then the run has imported them): `autopack --help` stays quick.
if TYPE_CHECKING:
    from autopack.run.interrupt import DrivenRun

P = ParamSpec("P")
R = TypeVar("R")

INTERRUPTED_EXIT = 130
DBOS_LOGGER = "dbos"
# How long the record of an interrupt may wait for a busy database before the process ends anyway.
RECORD_SECONDS = 5.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def resume_command(run_id: str, repo_root: Path) -> str:
    """`autopack resume ID`, with --repo when the run's repository is not the one around here."""
    command = f"autopack resume {run_id}"
    if not Path.cwd().resolve().is_relative_to(repo_root.resolve()):
        command += f" --repo {shlex.quote(str(repo_root))}"
    return command


def interrupt_line(runs: list[DrivenRun], as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "kind": "interrupted",
                "runs": [
                    {"run_id": run.run_id, "resume": resume_command(run.run_id, run.repo_root)}
                    for run in runs
                ],
            }
        )
    if not runs:
        return "interrupted before a run started: nothing to resume"
    return "; ".join(
        f"interrupted run {run.run_id}: resume with `{resume_command(run.run_id, run.repo_root)}`"
        for run in runs
    )


class _OnInterrupt:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.started = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        from autopack.run.interrupt import DRIVEN, record_interrupted
        from autopack.verify.limits_exec import stop_running_commands

        stop_running_commands()
        if self.started:  # a second Ctrl-C while the first is being handled: out, quietly
            os._exit(INTERRUPTED_EXIT)
        self.started = True
        logging.getLogger(DBOS_LOGGER).disabled = True
        runs = DRIVEN.now()
        _write_line(interrupt_line(runs, self.as_json), to_stdout=self.as_json)
        if runs:
            record_interrupted(runs, wait_seconds=RECORD_SECONDS)
        os._exit(INTERRUPTED_EXIT)


def _write_line(line: str, *, to_stdout: bool) -> None:
    """Straight to the file descriptor: the handler may have interrupted a write to the stream."""
    for written in (sys.stdout, sys.stderr):  # what the run printed comes before the line
        # Re-entrant (the signal came mid-write) or closed: the line still goes out.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            written.flush()
    stream = sys.stdout if to_stdout else sys.stderr
    try:
        os.write(stream.fileno(), f"{line}\n".encode())
    except (OSError, ValueError):  # a stream with no descriptor (an embedding harness)
        print(line, file=stream, flush=True)


@contextmanager
def exits_on_interrupt(as_json: bool) -> Iterator[None]:
    """While the block runs, Ctrl-C and SIGTERM interrupt as the module says."""
    handler = _OnInterrupt(as_json)
    # A signal the process was started ignoring (a background job's Ctrl-C) stays ignored.
    previous = {
        number: signal.signal(number, handler)
        for number in SIGNALS
        if signal.getsignal(number) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)


def interruptible(command: Callable[P, R]) -> Callable[P, R]:
    """A command that drives runs: interrupted as the module says (its `as_json` shapes the line)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with exits_on_interrupt(bool(kwargs.get("as_json", False))):
            return command(*args, **kwargs)

    return wrapper
