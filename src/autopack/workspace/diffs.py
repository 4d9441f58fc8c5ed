"""What an attempt worktree changed since its base commit, read by git alone."""

from __future__ import annotations

import subprocess

from autopack.errors import GitError
from autopack.workspace.base import Worktree


def _git(worktree: Worktree, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=worktree.path, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed: {detail[-1] if detail else completed.returncode}")
    return completed.stdout


# What running tests and tools leaves behind never belongs in a patch, even where the project's
# .gitignore forgets it: caches and bytecode would otherwise land on the integration branch.
BUILD_ARTIFACTS = (
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    ".coverage",
)


def _stage(worktree: Worktree) -> None:
    excluded = [f":(exclude,glob)**/{name}/**" for name in BUILD_ARTIFACTS]
    excluded += [f":(exclude,glob)**/{name}" for name in BUILD_ARTIFACTS]
    _git(worktree, "add", "--all", "--", ".", *excluded, ":(exclude,glob)**/*.pyc")


def worktree_diff(worktree: Worktree) -> str:
    """Everything the attempt changed, new files included, as a binary-safe full-index diff."""
    _stage(worktree)
    return _git(worktree, "diff", "--cached", "--binary", "--full-index", worktree.base_commit)


def changed_paths(worktree: Worktree) -> tuple[str, ...]:
    _stage(worktree)
    names = _git(worktree, "diff", "--cached", "--name-only", "-z", worktree.base_commit)
    return tuple(sorted(name for name in names.split("\0") if name))
