"""The ProjectEnvironment seam: for a worktree, the variables its commands run with and the host
paths the sandbox must show them, so that what the Verifier tests is the worktree's own code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from autopack.errors import AutopackError

Progress = Callable[[str], None]


def no_progress(line: str) -> None:
    """For callers with nobody watching."""


class ProjectEnvironmentError(AutopackError):
    """The project's environment cannot be built, or it would not test the worktree's code."""

    exit_code = 6


class CommandEnvironment(BaseModel):
    """What one worktree's commands get: their variables and the extra paths they may read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: dict[str, str]
    readable: tuple[Path, ...] = ()
    description: str


class ProjectEnvironment(Protocol):
    name: str

    def prepare(self, worktree: Path, on_progress: Progress = no_progress) -> CommandEnvironment:
        """Build what is missing (cached across worktrees and runs) and describe it."""
        ...
