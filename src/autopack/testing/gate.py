"""The run's gate in one call, for tests and benchmarks that start from an attempt worktree (the run
itself stages in its build step and integrates in its gate step, two checkpoints apart)."""

from __future__ import annotations

from autopack.apply.integrate import integrate_staged, stage
from autopack.apply.policy import WritePolicy
from autopack.workspace.base import ApplyOutcome, GitAdapter, Worktree


def integrate_attempt(
    git: GitAdapter, run_id: str, attempt: Worktree, policy: WritePolicy
) -> ApplyOutcome:
    """Stage the attempt's worktree and integrate it; raises PolicyViolation, writing nothing."""
    return integrate_staged(git, run_id, stage(git, attempt), policy)
