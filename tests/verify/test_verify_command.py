"""`autopack verify` runs a CI profile on HEAD in a throwaway worktree, sandboxed unless told not to."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.testing.git_repos import git
from autopack.verify.bubblewrap import BubblewrapSandbox
from autopack.verify.registry import profile_commands

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "test_app.py").write_text("def test_ok():\n    assert True\n")
    (repo / "autopack.toml").write_text(f'[ci.normal.commands]\ntests = "{PYTEST}"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qm", "init")
    return repo


def test_green_profile_passes_in_the_sandbox(project: Path, sandbox: BubblewrapSandbox) -> None:
    result = CliRunner().invoke(app, ["verify", "--repo", str(project)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "bubblewrap sandbox" in result.stdout
    assert "gate passed" in result.stdout
    assert "verify-" not in git(project, "worktree", "list")


def test_failing_test_on_head_fails_the_gate(project: Path, sandbox: BubblewrapSandbox) -> None:
    (project / "test_app.py").write_text("def test_ok():\n    assert False, 'broken'\n")
    git(project, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qam", "break")
    result = CliRunner().invoke(app, ["verify", "--repo", str(project), "--json"])
    assert result.exit_code == 8
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["failures"] == ["test:test_app::test_ok"]
    assert len(report["runs"]) == 3


def test_uncommitted_changes_are_not_what_is_verified(
    project: Path, sandbox: BubblewrapSandbox
) -> None:
    (project / "test_app.py").write_text("def test_ok():\n    assert False\n")
    result = CliRunner().invoke(app, ["verify", "--repo", str(project)])
    assert result.exit_code == 0


def test_no_sandbox_is_an_explicit_opt_out(project: Path) -> None:
    result = CliRunner().invoke(app, ["verify", "--repo", str(project), "--no-sandbox", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sandbox"] == "none"


def test_profile_without_commands_is_a_config_error(tmp_path: Path) -> None:
    repo = tmp_path / "bare"
    repo.mkdir()
    git(repo, "init", "-q")
    with pytest.raises(ConfigError, match=r"no CI commands for profile strict"):
        profile_commands(load_settings(repo), CIProfile.STRICT)
    (repo / "autopack.toml").write_text('[ci.normal.commands]\ntests = "pytest"\n')
    assert profile_commands(load_settings(repo), CIProfile.STRICT) == {"tests": "pytest"}
    result = CliRunner().invoke(app, ["verify", "--repo", str(tmp_path / "nowhere")])
    assert result.exit_code == 4
