"""What an attempt worktree changed since its base commit, read by git alone.

Everything in the worktree is staged into the attempt's own index and written as a tree: that tree
is what the gate judges and what the integration branch receives, so the diff text is only ever
shown (to the Auditor, in incident packs), never trusted to say what will be written.
"""

from __future__ import annotations

from autopack.errors import GitError
from autopack.workspace.base import StagedAttempt, Worktree
from autopack.workspace.entries import decode_path
from autopack.workspace.gitcmd import DIFF_FLAGS, failure, run_git


class UnstageablePaths(GitError):
    """Git refused to stage what the attempt made (a name git itself forbids); `paths` are the
    untracked names, for the write policy to say which rule they break."""

    def __init__(self, message: str, paths: tuple[str, ...]):
        self.paths = paths
        super().__init__(message)


# What running tests and tools leaves behind never belongs in a patch, even where the project's
# .gitignore forgets it: caches, bytecode and coverage data would otherwise land on the branch.
BUILD_ARTIFACTS = (
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    ".coverage",
)
BUILD_ARTIFACT_FILES = ("*.pyc", ".coverage.*")
# Staging sees every name the agent made; our own policy, not git's platform checks, refuses them.
_PERMISSIVE = ("core.protectNTFS=false", "core.protectHFS=false")


def _pinned(worktree: Worktree, args: tuple[str, ...]) -> tuple[str, ...]:
    if worktree.git_dir is None:
        return args
    return (f"--git-dir={worktree.git_dir}", f"--work-tree={worktree.path}", *args)


def _git(worktree: Worktree, *args: str) -> bytes:
    completed = run_git(_pinned(worktree, args), worktree.path, config=_PERMISSIVE)
    if completed.returncode != 0:
        raise GitError(failure(args, completed))
    return completed.stdout


def _stage(worktree: Worktree) -> None:
    excluded = [f":(exclude,glob)**/{name}/**" for name in BUILD_ARTIFACTS]
    excluded += [f":(exclude,glob)**/{name}" for name in BUILD_ARTIFACTS + BUILD_ARTIFACT_FILES]
    args = ("add", "--all", "--", ".", *excluded)
    completed = run_git(_pinned(worktree, args), worktree.path, config=_PERMISSIVE)
    if completed.returncode != 0:
        untracked = _git(worktree, "ls-files", "-z", "--others", "--exclude-standard")
        raise UnstageablePaths(
            failure(args, completed),
            tuple(decode_path(name) for name in untracked.split(b"\0") if name),
        )


def stage_attempt(worktree: Worktree) -> StagedAttempt:
    """The attempt's tree as git would commit it, the diff that makes it, and the paths it touches."""
    _stage(worktree)
    tree = _git(worktree, "write-tree").decode().strip()
    diff = _git(worktree, "diff-tree", "-p", *DIFF_FLAGS, worktree.base_commit, tree)
    names = _git(
        worktree, "diff-tree", "-r", "-z", "--name-only", "--no-renames", worktree.base_commit, tree
    )
    return StagedAttempt(
        base_commit=worktree.base_commit,
        tree=tree,
        diff=diff.decode("utf-8", "replace"),
        paths=tuple(sorted(decode_path(name) for name in names.split(b"\0") if name)),
    )


def worktree_diff(worktree: Worktree) -> str:
    """Everything the attempt changed, new files included, as a binary-safe full-index diff.

    For a Builder's own account only: a worktree git cannot stage is described, not raised, since
    the gate refuses it by rule.
    """
    try:
        return stage_attempt(worktree).diff
    except UnstageablePaths as error:
        return f"(git cannot stage this worktree: {error})\n"


def changed_paths(worktree: Worktree) -> tuple[str, ...]:
    try:
        return stage_attempt(worktree).paths
    except UnstageablePaths as error:
        return error.paths
