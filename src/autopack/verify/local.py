"""`autopack verify`: a CI profile run on the repository's HEAD in a throwaway worktree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from autopack.config import Settings
from autopack.domain.vocabulary import CIProfile
from autopack.verify.base import Limits, Sandbox
from autopack.verify.registry import profile_commands
from autopack.verify.verifier import VerifyResult, verify
from autopack.workspace.base import GitAdapter


def verify_head(
    settings: Settings, git: GitAdapter, sandbox: Sandbox, profile: CIProfile, reports_dir: Path
) -> VerifyResult:
    commands = profile_commands(settings, profile)
    name = f"verify-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    worktree = git.detached_worktree("local", name, "HEAD")
    try:
        return verify(worktree.path, commands, sandbox, Limits(), reports_dir)
    finally:
        git.remove_worktree(worktree)
