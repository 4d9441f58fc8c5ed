"""`autopack project add | list` and tokens limited to projects, through the real command: clear
errors with their exit codes, nothing half-written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli import exit_codes
from autopack.cli.main import app

runner = CliRunner()


def repository(root: Path, project_id: str) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "autopack.toml").write_text(f'[project]\nid = "{project_id}"\n')
    return root


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AUTOPACK_DATABASE_URL", raising=False)
    return repository(tmp_path / "server", "server")


def _listed(server: Path) -> list[dict[str, object]]:
    code, out, err = invoke("project", "list", "--repo", str(server), "--json")
    assert code == 0, err
    listed: list[dict[str, object]] = json.loads(out)
    return listed


def test_project_add_registers_a_repository_and_list_shows_it(server: Path, tmp_path: Path) -> None:
    other = repository(tmp_path / "other", "other")
    code, out, err = invoke("project", "add", str(other), "--repo", str(server))
    assert (code, err) == (0, "")
    assert out == f"project other: {other.resolve()}\n"
    code, out, _ = invoke("project", "add", str(other), "--repo", str(server), "--json")
    assert code == 0
    assert json.loads(out)["repo_path"] == str(other.resolve())
    (listed,) = _listed(server)
    assert (listed["project_id"], listed["repo_path"]) == ("other", str(other.resolve()))
    code, out, _ = invoke("project", "list", "--repo", str(server))
    assert out.startswith(f"other\t{other.resolve()}\tregistered ")


def test_project_add_refuses_clearly_and_writes_nothing(server: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    (tmp_path / "plain").mkdir()
    repository(tmp_path / "first", "dup")
    assert invoke("project", "add", str(tmp_path / "first"), "--repo", str(server))[0] == 0
    before = _listed(server)
    for path, code, words in (
        (a_file, exit_codes.REPOSITORY, "is not a directory"),
        (tmp_path / "plain", exit_codes.REPOSITORY, "not the top of a git work tree"),
        (tmp_path / "missing", exit_codes.REPOSITORY, "cannot be used"),
        (repository(tmp_path / "second", "dup"), exit_codes.CONFIG, "registered already"),
    ):
        got, out, err = invoke("project", "add", str(path), "--repo", str(server))
        assert (got, out) == (code, ""), err
        assert err.startswith("autopack: error: "), err
        assert words in err, err
    assert _listed(server) == before


def test_a_token_is_limited_to_registered_projects_only(server: Path, tmp_path: Path) -> None:
    code, out, err = invoke(
        "token", "create", "--name", "own", "--project", "server", "--repo", str(server), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["projects"] == ["server"]  # the repository here counts as registered
    code, out, err = invoke(
        "token", "create", "--name", "ghost", "--project", "nope", "--repo", str(server)
    )
    assert (code, out) == (exit_codes.CONFIG, "")
    assert "no project 'nope'" in err
    code, out, _ = invoke("token", "list", "--repo", str(server))
    assert out.splitlines()[0].split("\t")[:3] == ["own", "read", "server"]
    assert "ghost" not in out


def test_project_help_explains_the_registry() -> None:
    code, out, _ = invoke("project", "--help")
    assert code == 0
    assert "autopack serve" in out
    assert "POST /projects" in out
