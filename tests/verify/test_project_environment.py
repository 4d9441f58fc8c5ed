"""`autopack verify` tests the worktree's own code, not a copy installed where the caller runs.

The project is a src-layout package with a unittest suite and a pyproject without dependencies.
"The caller's environment" is a real virtual environment, first on PATH, holding a working copy
of the same package in its site-packages: what `python -m ...` imported before commands ran in
the project's environment. Its packages are visible in the sandbox (a venv under /tmp is bound
whole), so a Verifier that imported from it would pass a worktree whose package is broken.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from autopack.cli.main import app
from autopack.testing.environments import caller_environment
from autopack.testing.git_repos import git
from autopack.verify.base import Limits
from autopack.verify.bubblewrap import BubblewrapSandbox

PACKAGE = "shapes"
WORKING = "def area(width, height):\n    return width * height\n"
BROKEN = 'raise ImportError("shapes is broken on purpose")\n' + WORKING
TEST = """import unittest

import shapes


class AreaTest(unittest.TestCase):
    def test_area(self) -> None:
        print("IMPORTED-FROM", shapes.__file__)
        self.assertEqual(shapes.area(2, 3), 6)
"""
TESTS = "python -m unittest discover -s tests -v"
IMPORTED = re.compile(r"IMPORTED-FROM (\S+)")


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qm", message)


def src_layout_project(repo: Path, mode: str, *, package_dir: str = "src") -> Path:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "1.0"\ndependencies = []\n'
    )
    (repo / package_dir / PACKAGE).mkdir(parents=True)
    (repo / package_dir / PACKAGE / "__init__.py").write_text(WORKING)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_area.py").write_text(TEST)
    (repo / "autopack.toml").write_text(
        f'[environment]\npython = "{mode}"\n\n[ci.normal.commands]\ntests = "{TESTS}"\n'
    )
    (repo / ".gitignore").write_text(".autopack/\n.autonomous_runs/\n")
    _commit(repo, "shapes")
    return repo


@pytest.fixture
def caller_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The caller's environment first on PATH; uv (in uv mode) offline, with its own cache."""
    caller = caller_environment(tmp_path / "caller-venv", PACKAGE, WORKING)
    monkeypatch.setenv("PATH", f"{caller / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return caller


def _verify(repo: Path) -> Result:
    return CliRunner().invoke(app, ["verify", "--repo", str(repo), "--json"])


def _imported_from(result: Result) -> Path:
    report = json.loads(result.stdout)
    outputs = "".join(outcome["output_excerpt"] for run in report["runs"] for outcome in run)
    found = IMPORTED.findall(outputs)
    assert found, outputs
    return Path(found[-1])


@pytest.mark.parametrize("mode", ["inherit", "uv"])
def test_the_gate_tests_the_worktrees_package_not_the_callers_copy(
    tmp_path: Path, caller_on_path: Path, sandbox: BubblewrapSandbox, mode: str
) -> None:
    repo = src_layout_project(tmp_path / "proj", mode)
    worktrees = repo / ".autopack" / "worktrees"

    passing = _verify(repo)
    assert passing.exit_code == 0, passing.stdout + passing.stderr
    imported = _imported_from(passing)
    assert imported.is_relative_to(worktrees), imported
    assert imported.parts[-3:] == ("src", PACKAGE, "__init__.py")

    (repo / "src" / PACKAGE / "__init__.py").write_text(BROKEN)
    _commit(repo, "break the package")
    failing = _verify(repo)
    # The gate's verdict (not a refusal, exit code 6): the worktree's broken package was tested.
    assert failing.exit_code not in (0, 6), failing.stdout + failing.stderr
    assert json.loads(failing.stdout)["passed"] is False
    assert "shapes is broken on purpose" in failing.stdout

    (repo / "src" / PACKAGE / "__init__.py").write_text(WORKING.replace("width *", "1 * width *"))
    _commit(repo, "the correct change")
    fixed = _verify(repo)
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    assert _imported_from(fixed).is_relative_to(worktrees)


def test_uv_builds_the_environment_once_outside_the_worktree_and_reports_progress(
    tmp_path: Path, caller_on_path: Path, sandbox: BubblewrapSandbox
) -> None:
    repo = src_layout_project(tmp_path / "proj", "uv")
    first = CliRunner().invoke(app, ["verify", "--repo", str(repo)])
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "Building the project environment with uv from pyproject.toml" in first.stderr
    assert f"Running: {TESTS}" in first.stderr
    assert "gate passed" in first.stdout
    envs = list((repo / ".autopack" / "envs").glob("*/pyvenv.cfg"))
    assert len(envs) == 1
    # The isolated environment has no copy of the project: imports can only reach the worktree.
    assert not list(envs[0].parent.glob(f"lib/*/site-packages/{PACKAGE}"))

    second = CliRunner().invoke(app, ["verify", "--repo", str(repo)])
    assert second.exit_code == 0
    assert "reused" in second.stderr
    assert "Building" not in second.stderr


def test_a_package_that_resolves_outside_the_worktree_is_refused(
    tmp_path: Path, caller_on_path: Path, sandbox: BubblewrapSandbox
) -> None:
    # The code lives where no import root points (lib/), so the caller's copy would be tested.
    repo = src_layout_project(tmp_path / "proj", "inherit", package_dir="lib")
    result = _verify(repo)
    assert result.exit_code == 6, result.stdout + result.stderr
    assert f"package '{PACKAGE}' from {caller_on_path}" in result.stderr
    assert "outside the worktree" in result.stderr
    assert result.stdout == ""


def test_the_interpreter_a_command_names_is_the_one_asked(
    tmp_path: Path, sandbox: BubblewrapSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only `python` on PATH: the interpreter the CI command runs (here by its full path,
    with the copy installed only there) is the one whose imports are checked."""
    caller = caller_environment(tmp_path / "elsewhere-venv", PACKAGE, WORKING)
    repo = src_layout_project(tmp_path / "proj", "inherit", package_dir="lib")
    (repo / "autopack.toml").write_text(
        '[environment]\npython = "inherit"\n\n'
        # Not on PATH, so the sandbox is told to show it, as a user would.
        f'[sandbox]\nreadable = ["{caller}"]\n\n'
        f'[ci.normal.commands]\ntests = "{caller}/bin/python -m unittest discover -s tests"\n'
    )
    _commit(repo, "the tests run by the other interpreter")
    result = _verify(repo)
    assert result.exit_code == 6, result.stdout + result.stderr
    assert f"package '{PACKAGE}' from {caller}" in result.stderr


def test_a_venv_under_tmp_keeps_its_packages_in_the_sandbox(
    tmp_path: Path, sandbox: BubblewrapSandbox
) -> None:
    venv = caller_environment(tmp_path / "venv", PACKAGE, WORKING)
    assert venv.is_relative_to("/tmp")  # the sandbox mounts a fresh /tmp over the host's
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    work = tmp_path / "work"
    work.mkdir()
    result = sandbox.run(
        f"python -c 'import sys, {PACKAGE}; print(sys.prefix, {PACKAGE}.__file__)'",
        cwd=work,
        writable=[],
        limits=Limits(wall_seconds=60),
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    prefix, origin = result.stdout.split()
    assert Path(prefix) == venv
    assert Path(origin).is_relative_to(venv)
