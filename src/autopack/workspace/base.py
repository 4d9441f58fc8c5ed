"""The GitAdapter seam: everything Autopack does to a repository goes through these operations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Worktree(_Value):
    path: Path
    base_commit: str
    branch: str | None = None
    # Where git keeps this worktree's index and HEAD, read when it was made: the `.git` file in
    # the worktree is the agent's to overwrite, so it is never trusted to say which repository
    # a later git command acts on.
    git_dir: Path | None = None


class ApplyOutcome(_Value):
    applied: bool
    three_way: bool = False
    conflicts: tuple[str, ...] = ()
    message: str = ""


class Entry(_Value):
    """One path as git records it between two trees: the only thing the write policy judges."""

    path: str
    status: str  # git's letter: A added, M modified, D deleted, T type changed
    old_mode: str = "000000"
    new_mode: str = "000000"
    size: int = 0
    binary: bool = False
    added_lines: int = 0
    removed_lines: int = 0
    symlink_target: str | None = None


class StagedAttempt(_Value):
    """What an attempt's worktree holds, as the tree git would commit and the diff that makes it."""

    base_commit: str
    tree: str
    diff: str
    paths: tuple[str, ...] = ()


class CommitInfo(_Value):
    sha: str
    subject: str
    trailers: dict[str, str]


class IntegrationStatus(_Value):
    branch: str
    base_commit: str
    head_commit: str
    commits: tuple[CommitInfo, ...]


class GitAdapter(Protocol):
    def integration_branch(self, run_id: str) -> str: ...

    def ensure_integration_branch(self, run_id: str, base_ref: str) -> str: ...

    def integration_worktree(self, run_id: str) -> Worktree: ...

    def create_attempt_worktree(
        self, run_id: str, name: str, at: str | None = None
    ) -> Worktree: ...

    def detached_worktree(self, group: str, name: str, ref: str) -> Worktree: ...

    def remove_worktree(self, worktree: Worktree) -> None: ...

    def remove_run_worktrees(self, run_id: str) -> int: ...

    def recover_run_worktrees(self, run_id: str) -> list[Path]: ...

    def stage_attempt(self, worktree: Worktree) -> StagedAttempt: ...

    def tree_entries(self, base: str, tree: str, read_cap: int) -> tuple[Entry, ...]: ...

    def merge_attempt(
        self, run_id: str, staged: StagedAttempt, onto: str | None = None
    ) -> tuple[str | None, ApplyOutcome]: ...

    def commit_tree(self, tree: str, parent: str) -> str: ...

    def tree_of(self, commit: str) -> str: ...

    def candidate_worktree(self, run_id: str, name: str, head: str, tree: str) -> Worktree: ...

    def land_tree(self, run_id: str, tree: str) -> None: ...

    def reset_integration(self, run_id: str) -> str: ...

    def head_trailers(self, run_id: str) -> dict[str, str]: ...

    def commit(self, run_id: str, subject: str, trailers: Mapping[str, str]) -> str: ...

    def tag(self, name: str, commit: str) -> None: ...

    def integration_status(self, run_id: str, base_commit: str) -> IntegrationStatus: ...

    def show_commit(self, sha: str) -> str: ...

    def file_at(self, commit: str, path: str) -> bytes | None: ...

    def current_branch(self) -> str | None: ...

    def head_commit(self, ref: str = "HEAD") -> str: ...

    def promote(self, run_id: str, into: str) -> str: ...
