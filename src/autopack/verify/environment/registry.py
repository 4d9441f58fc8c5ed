"""Which environment a worktree's commands run in: the stack profile says the kind, and
`[environment] python` in autopack.toml says how a Python project's is made."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from autopack.config import Settings
from autopack.plan.catalogs import load_stack_profiles, resolve_stack
from autopack.verify.base import Sandbox
from autopack.verify.environment.base import (
    CommandEnvironment,
    Progress,
    ProjectEnvironment,
    ProjectEnvironmentError,
    no_progress,
)
from autopack.verify.environment.inherit import InheritEnvironment
from autopack.verify.environment.python_layout import (
    PYTHON_VERSION_FILE,
    declares_dependencies,
    top_level_package,
)
from autopack.verify.environment.resolution import check_package_resolves
from autopack.verify.environment.uv_env import UvEnvironment

ENVS_DIR = Path(".autopack") / "envs"


def find_uv() -> str | None:
    """uv from the `uv` package Autopack depends on, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def is_python_project(settings: Settings, worktree: Path) -> bool:
    """What the stack profile says; a project no profile recognises is Python if it has a package."""
    stack, _ = resolve_stack(worktree, load_stack_profiles(settings.repo_root))
    if stack is not None:
        return stack.environment == "python"
    return top_level_package(worktree) is not None


def environment_for(settings: Settings, worktree: Path) -> ProjectEnvironment:
    if not is_python_project(settings, worktree):
        return InheritEnvironment(python=False)
    mode = settings.environment.python
    uv = find_uv() if mode != "inherit" else None
    if mode == "uv" and uv is None:
        raise ProjectEnvironmentError(
            '[environment] python = "uv" but uv is not installed: `pip install uv`, or set '
            'python = "auto" to fall back to the caller\'s environment'
        )
    if uv is None or (mode == "auto" and not declares_dependencies(worktree)):
        return InheritEnvironment(python=True)
    return UvEnvironment(
        uv=uv,
        envs_dir=settings.repo_root / ENVS_DIR,
        python=_interpreter(worktree),
        caller_env=os.environ,
    )


def _interpreter(worktree: Path) -> str | None:
    """The interpreter the caller's commands ran (`python3` on PATH), unless the project pins
    its own version, which uv then finds."""
    if (worktree / PYTHON_VERSION_FILE).is_file():
        return None
    found = shutil.which("python3") or shutil.which("python")
    return os.path.realpath(found) if found else None


def prepare_environment(
    settings: Settings,
    worktree: Path,
    sandbox: Sandbox,
    *,
    check: bool,
    commands: Iterable[str] = (),
    on_progress: Progress = no_progress,
) -> CommandEnvironment:
    """The worktree's command environment, built if needed; with `check`, refused unless the
    project's package resolves inside the worktree for the interpreters the commands run."""
    environment = environment_for(settings, worktree).prepare(worktree, on_progress)
    if check:
        check_package_resolves(worktree, sandbox, environment, commands)
    return environment
