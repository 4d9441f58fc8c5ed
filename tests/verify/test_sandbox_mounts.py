"""The sandbox shows commands only what they need: no home, no /root, no sibling repositories, no
secrets in /etc or .git, yet a real project's tests still run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack.apply.policy import WritePolicy
from autopack.builder.tools import WorktreeTools
from autopack.config import load_settings
from autopack.verify.base import Limits, minimal_env
from autopack.verify.bubblewrap import BubblewrapSandbox
from autopack.verify.registry import readable_paths, sandbox_for
from autopack.verify.verifier import verify

SECRET = f"canary-{uuid.uuid4().hex}"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def _plant(path: Path, created: list[Path]) -> None:
    path.write_text(f"{SECRET}\n")
    created.append(path)


@pytest.fixture(params=["home", "tmp"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Where the project and its sibling live: the user's home (the usual place) or /tmp."""
    if request.param == "tmp":
        yield tmp_path
        return
    if not _writable(Path.home()):
        pytest.skip("the home folder is not writable")
    folder = Path.home() / f"autopack-sandbox-test-{uuid.uuid4().hex}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def project(base: Path) -> Path:
    """A git repository with a passing test suite and a credential in its remote URL."""
    root = base / "project"
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "__init__.py").write_text(
        "def add(a: int, b: int) -> int:\n    return a + b\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_calc.py").write_text(
        "import unittest\n\nfrom calc import add\n\n\n"
        "class AddTest(unittest.TestCase):\n"
        "    def test_adds(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n"
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(
        ["git", "remote", "add", "origin", f"https://user:{SECRET}@example.com/p.git"],
        cwd=root,
        check=True,
    )
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "calc"], cwd=root, check=True)
    return root


@pytest.fixture
def worktree(project: Path) -> Path:
    """An attempt worktree where Autopack puts them, with a `.git` file pointing into the repo."""
    path = project / ".autopack" / "worktrees" / "attempt"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(path)], cwd=project, check=True)
    return path


@pytest.fixture
def canaries(base: Path) -> Iterator[list[Path]]:
    """The secret in the user's home, /root, a sibling repository and /etc (where writable)."""
    created: list[Path] = []
    name = f"autopack-canary-{uuid.uuid4().hex}"
    _plant(Path.home() / name, created)
    if _writable(Path("/root")) and Path("/root").resolve() != Path.home().resolve():
        _plant(Path("/root") / name, created)
    sibling = base / "other-repo"
    sibling.mkdir()
    _plant(sibling / "secrets.env", created)
    if _writable(Path("/etc")):
        _plant(Path("/etc") / name, created)
    yield created
    for path in created:
        path.unlink(missing_ok=True)


@pytest.fixture
def etc_canary() -> Iterator[Path | None]:
    if not _writable(Path("/etc")):
        yield None
        return
    path = Path("/etc") / f"autopack-canary-{uuid.uuid4().hex}"
    path.write_text(f"{SECRET}\n")
    yield path
    path.unlink(missing_ok=True)


def _run(sandbox: BubblewrapSandbox, command: str, cwd: Path) -> tuple[int, str]:
    result = sandbox.run(command, cwd=cwd, writable=[cwd], limits=Limits(), env=minimal_env())
    return result.exit_code, result.stdout + result.stderr


def test_ci_commands_cannot_read_the_hosts_secrets(
    sandbox: BubblewrapSandbox, worktree: Path, canaries: list[Path], tmp_path: Path
) -> None:
    commands = {f"read{number}": f"cat {path}" for number, path in enumerate(canaries)}
    result = verify(worktree, commands, sandbox, Limits(), tmp_path / "reports", max_runs=1)
    assert len(result.final) == len(canaries)
    for outcome in result.final:
        assert outcome.exit_code != 0, outcome.command
        assert SECRET not in outcome.output_excerpt, outcome.command


def test_builder_commands_cannot_read_the_hosts_secrets(
    sandbox: BubblewrapSandbox, worktree: Path, canaries: list[Path]
) -> None:
    tools = WorktreeTools(root=worktree, sandbox=sandbox, policy=WritePolicy())
    for path in canaries:
        output = tools.run_command(f"cat {path}")
        assert output.startswith("exit code 1 "), output
        assert SECRET not in output


def test_the_repositorys_git_metadata_is_hidden(
    sandbox: BubblewrapSandbox, project: Path, worktree: Path
) -> None:
    from_root = _run(sandbox, "cat .git/config", project)
    gitdir = (worktree / ".git").read_text().removeprefix("gitdir: ").strip()
    from_worktree = _run(sandbox, f"cat {gitdir}/../../config", worktree)
    for exit_code, output in (from_root, from_worktree):
        assert exit_code != 0
        assert SECRET not in output


def test_a_real_projects_tests_still_pass_inside(
    sandbox: BubblewrapSandbox, worktree: Path, tmp_path: Path
) -> None:
    # As in an activated virtual environment: `python` on PATH is the one with the packages.
    env = {**minimal_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}"}
    commands = {
        "pytest": f"{sys.executable} -m pytest -q -p no:cacheprovider",
        "unittest": "python -m unittest discover -s tests -t .",
    }
    result = verify(worktree, commands, sandbox, Limits(), tmp_path / "reports", env=env)
    assert result.passed, [outcome.output_excerpt for outcome in result.final]
    assert [test.test_id for test in result.final[0].tests] == [
        "tests.test_calc.AddTest::test_adds"
    ]
    tools = WorktreeTools(root=worktree, sandbox=sandbox, policy=WritePolicy(), env=env)
    assert "1 passed" in tools.run_command("python -m pytest -q -p no:cacheprovider")


def test_home_is_private_empty_and_writable(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    exit_code, output = _run(
        sandbox,
        'echo "home=$HOME"; ls -A "$HOME"; echo kept > "$HOME/note" && cat "$HOME/note"',
        worktree,
    )
    assert exit_code == 0, output
    home = output.splitlines()[0].removeprefix("home=")
    assert output.splitlines()[1:] == ["kept"]
    assert Path(home).resolve() != Path.home().resolve()
    assert not (Path(home) / "note").exists()


def test_tmp_is_private_and_empty(sandbox: BubblewrapSandbox, worktree: Path) -> None:
    host_file = Path("/tmp") / f"autopack-canary-{uuid.uuid4().hex}"
    host_file.write_text(f"{SECRET}\n")
    scratch = Path("/tmp") / f"autopack-scratch-{uuid.uuid4().hex}"
    try:
        exit_code, output = _run(
            sandbox, f"ls -A /tmp; echo x > {scratch} && cat {scratch}", worktree
        )
    finally:
        host_file.unlink()
    assert exit_code == 0, output
    # Only the ways to what is bound and itself lives under /tmp: the worktree, the Python
    # environment (a checkout under /tmp has its venv there), PATH directories.
    bound = [worktree, Path(sys.prefix), Path(sys.base_prefix)]
    bound += [Path(entry) for entry in minimal_env()["PATH"].split(os.pathsep) if entry]
    ways = {
        part
        for path in bound
        for candidate in (path.absolute(), path.resolve())
        if candidate.is_relative_to("/tmp") and len(candidate.parts) > 2
        for part in [candidate.parts[2]]
    }
    listed = output.splitlines()
    assert listed[-1] == "x"
    assert set(listed[:-1]) <= ways
    assert host_file.name not in listed
    assert SECRET not in output
    assert not scratch.exists()


def test_only_the_worktree_is_writable(
    sandbox: BubblewrapSandbox, worktree: Path, base: Path
) -> None:
    beside = base / f"escape-{uuid.uuid4().hex}"
    in_home = Path.home() / f"autopack-escape-{uuid.uuid4().hex}"
    exit_code, output = _run(
        sandbox,
        f"echo made > made.txt && cat made.txt; echo x > {beside}; echo x > {in_home}",
        worktree,
    )
    assert (worktree / "made.txt").read_text() == "made\n"
    assert not beside.exists()
    assert not in_home.exists()
    assert exit_code != 0
    assert "Read-only file system" in output


def test_configured_readable_paths_are_visible_and_missing_ones_skipped(
    sandbox: BubblewrapSandbox, project: Path, worktree: Path
) -> None:
    shared = project.parent / "shared-tools"
    shared.mkdir()
    (shared / "tool.txt").write_text("shared tool\n")
    (project / "autopack.toml").write_text(
        '[sandbox]\nreadable = ["../shared-tools", "no-such-folder"]\n'
    )
    settings = load_settings(project)
    assert readable_paths(settings) == (
        project.resolve() / "../shared-tools",
        project.resolve() / "no-such-folder",
    )
    configured = sandbox_for(False, settings)
    assert isinstance(configured, BubblewrapSandbox)
    exit_code, output = _run(configured, f"cat {shared}/tool.txt; echo x > {shared}/new", worktree)
    assert "shared tool" in output
    assert exit_code != 0  # read-only
    assert not (shared / "new").exists()
    unconfigured = _run(sandbox, f"cat {shared}/tool.txt", worktree)
    assert unconfigured[0] != 0
    assert "shared tool" not in unconfigured[1]


def test_a_path_entry_shows_only_itself(
    sandbox: BubblewrapSandbox, worktree: Path, canaries: list[Path]
) -> None:
    """A tool folder in the home is visible; the rest of the home is not."""
    tools_dir = canaries[0].parent / f"autopack-bin-{uuid.uuid4().hex}"
    tools_dir.mkdir()
    try:
        (tools_dir / "hello-tool").write_text("#!/bin/sh\necho tool ran\n")
        (tools_dir / "hello-tool").chmod(0o755)
        env = {**minimal_env(), "PATH": f"{tools_dir}{os.pathsep}{minimal_env()['PATH']}"}
        result = sandbox.run(
            f"hello-tool; cat {canaries[0]}", cwd=worktree, writable=[], limits=Limits(), env=env
        )
    finally:
        shutil.rmtree(tools_dir)
    assert "tool ran" in result.stdout
    assert result.exit_code != 0
    assert SECRET not in result.stdout + result.stderr


def test_a_version_managers_shims_find_its_root_and_nothing_else(
    sandbox: BubblewrapSandbox, worktree: Path, canaries: list[Path]
) -> None:
    """pyenv-style shims exec the manager from its root: the root is bound, the home is not."""
    root = canaries[0].parent / f".manager-{uuid.uuid4().hex}"
    (root / "shims").mkdir(parents=True)
    (root / "libexec").mkdir()
    (root / "libexec" / "manager").write_text('#!/bin/sh\necho managed "$@"\n')
    (root / "libexec" / "manager").chmod(0o755)
    (root / "shims" / "tool").write_text(f"#!/bin/sh\nexec {root}/libexec/manager exec tool\n")
    (root / "shims" / "tool").chmod(0o755)
    try:
        env = {**minimal_env(), "PATH": f"{root / 'shims'}{os.pathsep}{minimal_env()['PATH']}"}
        result = sandbox.run(
            f"tool; cat {canaries[0]}", cwd=worktree, writable=[], limits=Limits(), env=env
        )
    finally:
        shutil.rmtree(root)
    assert "managed exec tool" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_etc_shows_only_what_programs_need(
    sandbox: BubblewrapSandbox, worktree: Path, etc_canary: Path | None
) -> None:
    readable = _run(sandbox, "cat /etc/passwd", worktree)
    assert readable[0] == 0
    assert "root:" in readable[1]
    hidden = [path for path in (etc_canary, Path("/etc/shadow")) if path is not None]
    for path in hidden:
        exit_code, output = _run(sandbox, f"cat {path}", worktree)
        assert exit_code != 0, path
        assert SECRET not in output
