"""The caller's own environment (its PATH and whatever is installed there), with the worktree's
import roots first on PYTHONPATH so a copy of the project installed there is never what runs."""

from __future__ import annotations

import os
from pathlib import Path

from autopack.verify.base import minimal_env
from autopack.verify.environment.base import CommandEnvironment, Progress, no_progress
from autopack.verify.environment.python_layout import import_roots


def python_path(worktree: Path) -> str:
    return os.pathsep.join(str(root) for root in import_roots(worktree))


class InheritEnvironment:
    """`[environment] python = "inherit"`, a project without Python declarations, or any other
    stack (Go, Rust and Node tools find the worktree's code from the working directory)."""

    name = "inherit"

    def __init__(self, *, python: bool) -> None:
        self.python = python

    def prepare(self, worktree: Path, on_progress: Progress = no_progress) -> CommandEnvironment:
        env = minimal_env()
        if not self.python:
            return CommandEnvironment(env=env, description="the caller's environment")
        env["PYTHONPATH"] = python_path(worktree)
        return CommandEnvironment(
            env=env,
            description=f"the caller's environment, importing from {env['PYTHONPATH']}",
        )
