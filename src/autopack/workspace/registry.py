"""The GitAdapter a run and its callers use, built from the settings: the git command line."""

from __future__ import annotations

from autopack.config import Settings
from autopack.workspace.base import GitAdapter
from autopack.workspace.git_cli import GitCli


def git_for(settings: Settings) -> GitAdapter:
    return GitCli(settings.repo_root, settings.worktree_root)
