"""A sandbox that says what it runs: the command before, its exit and time after, for a person
watching `autopack verify` (a profile's test suite can take minutes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from autopack.verify.base import CommandResult, Limits, Sandbox
from autopack.verify.environment.base import Progress


class ReportingSandbox:
    def __init__(self, inner: Sandbox, on_progress: Progress) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_progress = on_progress

    def reading(self, paths: Sequence[Path]) -> ReportingSandbox:
        return ReportingSandbox(self.inner.reading(paths), self.on_progress)

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        writable: Sequence[Path],
        limits: Limits,
        env: Mapping[str, str],
    ) -> CommandResult:
        self.on_progress(f"Running: {command}")
        result = self.inner.run(command, cwd=cwd, writable=writable, limits=limits, env=env)
        ending = "timed out" if result.timed_out else f"exit {result.exit_code}"
        self.on_progress(f"  {ending} after {result.seconds:.1f} s")
        return result
