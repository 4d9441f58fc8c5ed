"""`autopack verify`: a CI profile run on the repository's HEAD in a throwaway worktree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from autopack.config import Settings
from autopack.domain.vocabulary import CIProfile
from autopack.verify.base import Limits, Sandbox
from autopack.verify.environment.base import Progress, no_progress
from autopack.verify.environment.registry import prepare_environment
from autopack.verify.registry import profile_commands
from autopack.verify.reporting import ReportingSandbox
from autopack.verify.verifier import VerifyResult, verify
from autopack.workspace.base import GitAdapter


def verify_head(
    settings: Settings,
    git: GitAdapter,
    sandbox: Sandbox,
    profile: CIProfile,
    reports_dir: Path,
    on_progress: Progress = no_progress,
) -> VerifyResult:
    """In the project's environment, refused (ProjectEnvironmentError) when HEAD's package would
    not be imported from the worktree."""
    commands = profile_commands(settings, profile)
    name = f"verify-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    worktree = git.detached_worktree("local", name, "HEAD")
    try:
        environment = prepare_environment(
            settings,
            worktree.path,
            sandbox,
            check=True,
            commands=commands.values(),
            on_progress=on_progress,
        )
        on_progress(f"Commands run in {environment.description}")
        return verify(
            worktree.path,
            commands,
            ReportingSandbox(sandbox.reading(environment.readable), on_progress),
            Limits(),
            reports_dir,
            env=environment.env,
        )
    finally:
        git.remove_worktree(worktree)
