"""The governed path from an attempt's worktree to the integration branch.

The attempt's worktree is staged by git into a tree; the tree the integration branch would hold
is computed without touching its worktree; the entries git reports between that tree and the
branch's head are judged by the write policy; only then is exactly that tree checked out. What is
judged is what is written: there is no second reader of the diff text to disagree with git.
"""

from __future__ import annotations

from pathlib import Path

from autopack.apply.paths import normalised_path
from autopack.apply.policy import WritePolicy, judge_entries
from autopack.errors import PolicyViolation
from autopack.workspace.base import ApplyOutcome, GitAdapter, StagedAttempt, Worktree
from autopack.workspace.diffs import UnstageablePaths


def unstageable_refusal(error: UnstageablePaths, root: Path) -> PolicyViolation:
    """Which rule the names git refused to stage break; git's own words when ours find none."""
    for path in error.paths:
        if (root / path / ".git").exists():
            return PolicyViolation(
                path.rstrip("/"),
                "mode.gitlink",
                "a nested git repository was created here; commit its files as plain files instead",
            )
    for path in error.paths:
        try:
            normalised_path(path)
        except PolicyViolation as violation:
            return violation
    return PolicyViolation(
        ", ".join(error.paths[:5]) or "(worktree)", "path.unstageable", str(error)
    )


def stage(git: GitAdapter, attempt: Worktree) -> StagedAttempt:
    """The attempt as git would record it; PolicyViolation when git cannot record what it made."""
    try:
        return git.stage_attempt(attempt)
    except UnstageablePaths as error:
        raise unstageable_refusal(error, attempt.path) from None


def merge_staged(
    git: GitAdapter,
    run_id: str,
    staged: StagedAttempt,
    policy: WritePolicy,
    onto: str | None = None,
) -> tuple[str, str | None, ApplyOutcome]:
    """The commit merged onto (`onto`, by default the integration branch's head), and the tree
    it would hold with the attempt on top (None when the attempt cannot go there); raises
    PolicyViolation for what git would record there. Nothing is written: no worktree, no ref."""
    head = onto or git.integration_worktree(run_id).base_commit
    if not staged.paths:
        return head, None, ApplyOutcome(applied=False, message="the attempt changed nothing")
    tree, merged = git.merge_attempt(run_id, staged, head)
    if tree is None:
        return head, None, merged
    entries = git.tree_entries(head, tree, policy.max_bytes)
    if not entries:
        return (
            head,
            None,
            ApplyOutcome(applied=False, message="the attempt changes nothing the branch lacks"),
        )
    judge_entries(entries, policy)
    return head, tree, merged


def integrate_staged(
    git: GitAdapter, run_id: str, staged: StagedAttempt, policy: WritePolicy
) -> ApplyOutcome:
    """Raises PolicyViolation before anything reaches the integration worktree."""
    git.reset_integration(run_id)
    _, tree, merged = merge_staged(git, run_id, staged, policy)
    if tree is not None:
        git.land_tree(run_id, tree)
    return merged
