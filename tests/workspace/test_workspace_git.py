"""The git adapter on real repositories: the user's tree is never touched; changes reach only the integration branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.apply.policy import WritePolicy
from autopack.config import DEFAULT_PROTECTED_PATHS
from autopack.errors import PolicyViolation
from autopack.testing.filesystem import snapshot
from autopack.testing.gate import integrate_attempt
from autopack.testing.git_repos import git
from autopack.workspace.git_cli import GitCli, GitError

POLICY = WritePolicy(protected_paths=DEFAULT_PROTECTED_PATHS)


def user_state(repo: Path) -> tuple[str, str, str, dict[str, str]]:
    files = {k: v for k, v in snapshot(repo).items() if not k.startswith(".git")}
    return (
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "rev-parse", "main"),
        git(repo, "status", "--porcelain"),
        files,
    )


def test_a_phase_reaches_only_the_integration_branch(user_repo: Path, adapter: GitCli) -> None:
    before = user_state(user_repo)
    base = adapter.ensure_integration_branch("run-1", "main")
    attempt = adapter.create_attempt_worktree("run-1", "p1-a1")
    (attempt.path / "src" / "app.py").write_text("def greet(name):\n    return 'hi ' + name\n")
    (attempt.path / "src" / "new.py").write_text("NEW = 1\n")
    outcome = integrate_attempt(adapter, "run-1", attempt, POLICY)
    assert outcome.applied
    trailers = {
        "Autopack-Run": "run-1",
        "Autopack-Phase": "p1",
        "Autopack-Attempt": "1",
        "Autopack-Model": "anthropic-standard",
        "Autopack-Cost-USD": "0.0421",
    }
    sha = adapter.commit("run-1", "p1: greet with hi", trailers)
    adapter.tag("autopack/run-1/p1", sha)
    status = adapter.integration_status("run-1", base)
    assert [c.subject for c in status.commits] == ["p1: greet with hi"]
    assert status.commits[0].trailers == trailers
    assert git(user_repo, "show", "autopack/run-1:src/new.py") == "NEW = 1\n"
    assert git(user_repo, "rev-parse", "autopack/run-1/p1").strip() == sha
    assert user_state(user_repo) == before


def test_policy_violation_in_the_worktree_never_reaches_the_branch(
    user_repo: Path, adapter: GitCli
) -> None:
    adapter.ensure_integration_branch("run-1", "main")
    head = git(user_repo, "rev-parse", "autopack/run-1")
    attempt = adapter.create_attempt_worktree("run-1", "p1-a1")
    (attempt.path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {evil: {}}\n")
    with pytest.raises(PolicyViolation) as caught:
        integrate_attempt(adapter, "run-1", attempt, POLICY)
    assert caught.value.rule == "path.protected"
    assert git(user_repo, "rev-parse", "autopack/run-1") == head
    integration = adapter.integration_worktree("run-1")
    assert git(integration.path, "status", "--porcelain") == ""


def test_symlink_made_in_the_worktree_is_refused(user_repo: Path, adapter: GitCli) -> None:
    adapter.ensure_integration_branch("run-1", "main")
    attempt = adapter.create_attempt_worktree("run-1", "p1-a1")
    (attempt.path / "src" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(PolicyViolation, match="symlink"):
        integrate_attempt(adapter, "run-1", attempt, POLICY)


def test_moved_branch_uses_three_way_and_conflicts_leave_a_clean_tree(
    user_repo: Path, adapter: GitCli
) -> None:
    adapter.ensure_integration_branch("run-1", "main")
    first = adapter.create_attempt_worktree("run-1", "p1-a1")
    second = adapter.create_attempt_worktree("run-1", "p2-a1")
    conflicting = adapter.create_attempt_worktree("run-1", "p3-a1")
    (first.path / "src" / "app.py").write_text("def greet(name):\n    return 'hi ' + name\n")
    assert integrate_attempt(adapter, "run-1", first, POLICY).applied
    adapter.commit("run-1", "p1", {"Autopack-Phase": "p1"})
    (second.path / "NOTES.md").write_text("notes\nmore\n")
    outcome = integrate_attempt(adapter, "run-1", second, POLICY)
    assert (outcome.applied, outcome.three_way) == (True, True)
    adapter.commit("run-1", "p2", {"Autopack-Phase": "p2"})
    head = git(user_repo, "rev-parse", "autopack/run-1")
    (conflicting.path / "src" / "app.py").write_text("def greet(name):\n    return 'hey ' + name\n")
    outcome = integrate_attempt(adapter, "run-1", conflicting, POLICY)
    assert not outcome.applied
    assert outcome.three_way
    assert outcome.conflicts == ("src/app.py",)
    integration = adapter.integration_worktree("run-1")
    assert git(integration.path, "status", "--porcelain") == ""
    assert git(user_repo, "rev-parse", "autopack/run-1") == head
    assert "'hi '" in (integration.path / "src" / "app.py").read_text()


def test_worktrees_are_removed_on_cleanup(user_repo: Path, adapter: GitCli) -> None:
    adapter.ensure_integration_branch("run-1", "main")
    adapter.integration_worktree("run-1")
    adapter.create_attempt_worktree("run-1", "p1-a1")
    adapter.create_attempt_worktree("run-1", "p2-a1")
    assert git(user_repo, "worktree", "list").count("\n") == 4
    assert adapter.remove_run_worktrees("run-1") == 3
    assert git(user_repo, "worktree", "list").count("\n") == 1
    assert not (adapter.worktree_root / "run-1").exists()


def test_existing_integration_branch_is_reused(user_repo: Path, adapter: GitCli) -> None:
    first = adapter.ensure_integration_branch("run-1", "main")
    git(user_repo, "commit", "-qm", "user moves main", "--allow-empty")
    assert adapter.ensure_integration_branch("run-1", "main") == first


def test_unsafe_names_and_non_repos_are_refused(
    user_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    with pytest.raises(GitError):
        adapter.ensure_integration_branch("../evil", "main")
    with pytest.raises(GitError):
        adapter.ensure_integration_branch("run-1", "no-such-branch")
    plain = scratch / "plain"
    plain.mkdir()
    with pytest.raises(GitError):
        GitCli(plain, scratch / "wt")


def test_empty_attempt_is_not_applied(user_repo: Path, adapter: GitCli) -> None:
    adapter.ensure_integration_branch("run-1", "main")
    attempt = adapter.create_attempt_worktree("run-1", "p1-a1")
    outcome = integrate_attempt(adapter, "run-1", attempt, POLICY)
    assert not outcome.applied
    assert "changed nothing" in outcome.message
