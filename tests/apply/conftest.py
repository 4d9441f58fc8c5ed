"""A small repository on disk with an `outside` folder beside it standing for the rest of the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.apply.policy import WritePolicy
from autopack.config import DEFAULT_PROTECTED_PATHS


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """tmp_path/repo is the repository; tmp_path/outside stands for everything else on the machine."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / ".git" / "hooks").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[core]\n")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / "src" / "app.py").write_text(
        "def greet(name):\n    return 'hello ' + name\n\n\ndef main():\n    print(greet('world'))\n"
    )
    (repo / "README.md").write_text("# App\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch\n")
    return repo


@pytest.fixture
def policy() -> WritePolicy:
    return WritePolicy(protected_paths=DEFAULT_PROTECTED_PATHS)
