"""Run a prepared argv with a wall-clock limit, killing the whole process group on time-out."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from autopack.verify.base import CommandResult, Limits


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
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return CommandResult(
        exit_code=process.returncode if not timed_out else 124,
        stdout=_clip(stdout, limits.output_bytes),
        stderr=_clip(stderr, limits.output_bytes),
        seconds=round(time.monotonic() - started, 3),
        timed_out=timed_out,
    )
