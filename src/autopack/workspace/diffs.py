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


def worktree_diff(worktree: Worktree) -> str:
    """Everything the attempt changed, new files included, as a binary-safe full-index diff."""
    _git(worktree, "add", "--all")
    return _git(worktree, "diff", "--cached", "--binary", "--full-index", worktree.base_commit)


def changed_paths(worktree: Worktree) -> tuple[str, ...]:
    _git(worktree, "add", "--all")
    names = _git(worktree, "diff", "--cached", "--name-only", "-z", worktree.base_commit)
    return tuple(sorted(name for name in names.split("\0") if name))
