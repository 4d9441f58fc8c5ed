"""Real git repositories on /dev/shm (much faster for worktrees), with a dirty working tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.testing.git_repos import git
from autopack.workspace.git_cli import GitCli


@pytest.fixture
def user_repo(scratch: Path) -> Path:
    """A repo on branch `main` with two commits, an uncommitted edit and an untracked file."""
    repo = scratch / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "User")
    git(repo, "config", "user.email", "user@example.com")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("def greet(name):\n    return 'hello ' + name\n")
    (repo / "README.md").write_text("# App\n")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "NOTES.md").write_text("notes\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-qm", "notes")
    (repo / "README.md").write_text("# App (user's uncommitted edit)\n")
    (repo / "scratch.txt").write_text("untracked\n")
    return repo


@pytest.fixture
def adapter(user_repo: Path, scratch: Path) -> GitCli:
    return GitCli(user_repo, scratch / "worktrees")
