"""`autopack init` in a user's repository: every default written, Autopack's folders kept out of
git, and the configuration reference reachable from there (not a relative docs/ path)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app

CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def git_status(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_init_keeps_autopacks_folders_out_of_git_once(repo: Path) -> None:
    (repo / ".gitignore").write_text("dist")  # no final newline
    result = runner.invoke(app, ["init", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert ".autopack/ .autonomous_runs/" in result.stdout
    assert (repo / ".gitignore").read_text() == "dist\n.autopack/\n.autonomous_runs/\n"
    # What Autopack writes there is ignored, as git itself says.
    (repo / ".autopack").mkdir()
    (repo / ".autopack" / "autopack.db").write_text("x")
    (repo / ".autonomous_runs" / "run-1").mkdir(parents=True)
    (repo / ".autonomous_runs" / "run-1" / "RUN_SUMMARY.md").write_text("x")
    assert ".autopack" not in git_status(repo)
    assert ".autonomous_runs" not in git_status(repo)
    again = runner.invoke(app, ["init", "--repo", str(repo), "--force", "--json"])
    assert json.loads(again.stdout)["gitignore_added"] == []
    assert (repo / ".gitignore").read_text() == "dist\n.autopack/\n.autonomous_runs/\n"


def test_init_creates_a_gitignore_and_respects_equivalent_lines(repo: Path) -> None:
    runner.invoke(app, ["init", "--repo", str(repo)])
    assert (repo / ".gitignore").read_text() == ".autopack/\n.autonomous_runs/\n"
    (repo / ".gitignore").write_text("/.autopack\n")
    result = runner.invoke(app, ["init", "--repo", str(repo), "--force", "--json"])
    assert json.loads(result.stdout)["gitignore_added"] == [".autonomous_runs/"]


def test_init_points_to_the_shipped_reference_which_is_the_configuration_doc(repo: Path) -> None:
    result = runner.invoke(app, ["init", "--repo", str(repo)])
    written = (repo / "autopack.toml").read_text()
    for text in (result.stdout, written):
        assert "autopack help config" in text
        assert "docs/configuration.md" not in text
    reference = runner.invoke(app, ["help", "config"])
    assert reference.exit_code == 0
    assert reference.stdout == CONFIGURATION_DOC.read_text()
