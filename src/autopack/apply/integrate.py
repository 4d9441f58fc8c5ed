"""The governed path from an attempt's worktree to the integration branch.

The diff is taken from the worktree by git (never trusted from a model), checked against the
write policy, then applied to the integration branch's own worktree; a conflict resets that
worktree to its head and is reported, never left half-applied.
"""

from __future__ import annotations

from autopack.apply.formats.unified import parse_unified
from autopack.apply.policy import WritePolicy, check_patch
from autopack.errors import PatchFormatError
from autopack.workspace.base import ApplyOutcome, GitAdapter, Worktree


def integrate_attempt(
    git: GitAdapter, run_id: str, attempt: Worktree, policy: WritePolicy
) -> ApplyOutcome:
    """Raises PolicyViolation before anything reaches the integration branch."""
    diff = git.diff_worktree(attempt)
    if not diff.strip():
        return ApplyOutcome(applied=False, message="the attempt changed nothing")
    integration = git.integration_worktree(run_id)
    try:
        check_patch(integration.path, parse_unified(diff), policy)
    except PatchFormatError as error:
        return ApplyOutcome(
            applied=False, message=f"git produced a diff Autopack cannot read: {error}"
        )
    return git.apply_to_integration(run_id, diff, attempt.base_commit)
