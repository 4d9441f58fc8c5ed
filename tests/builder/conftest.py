"""A small real Python project with a bug and its test, and an attempt worktree of it on /dev/shm."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.testing.git_repos import git
from autopack.workspace.base import Worktree
from autopack.workspace.git_cli import GitCli

CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
TEST_CALC = (
    "from calc import add, sub\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_sub():\n    assert sub(5, 3) == 2\n"
)


@pytest.fixture
def calc_repo(scratch: Path) -> Path:
    repo = scratch / "calc"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "User")
    git(repo, "config", "user.email", "user@example.com")
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TEST_CALC)
    (repo / "README.md").write_text("# Calc\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "calc with a bug in add")
    return repo


@pytest.fixture
def attempt_worktree(calc_repo: Path, scratch: Path) -> Worktree:
    git_cli = GitCli(calc_repo, scratch / "worktrees")
    git_cli.ensure_integration_branch("run-1", "HEAD")
    return git_cli.create_attempt_worktree("run-1", "p1-attempt-1")
