"""An isolated virtual environment per project, built by uv from the project's own declarations
(uv.lock, else pyproject.toml and requirements files) and cached outside the worktree by a hash of
what they declare, so runs and attempts share it until the declarations change.

Each attempt imports its own code: the worktree's import roots come first on PYTHONPATH. The
project itself is installed only for its metadata (editable, from the worktree the environment was
built from, which is then removed), since tests ask `importlib.metadata` for its version.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from autopack.verify.base import minimal_env
from autopack.verify.environment.base import (
    CommandEnvironment,
    Progress,
    ProjectEnvironmentError,
    no_progress,
)
from autopack.verify.environment.inherit import python_path
from autopack.verify.environment.python_layout import (
    PYPROJECT,
    PYTHON_VERSION_FILE,
    UV_LOCK,
    dependency_groups,
    read_pyproject,
    requirement_files,
)

COMPLETE_MARKER = ".autopack-complete"
BUILD_SECONDS = 1_800
# What of pyproject.toml decides the environment; a version bump or a linter setting does not.
DECLARING_TABLES = ("dependencies", "optional-dependencies", "requires-python")
# Bumped when the way environments are built changes, so old ones are not reused.
RECIPE = "2"


def _declarations(worktree: Path) -> dict[str, object]:
    pyproject = read_pyproject(worktree)
    project = pyproject.get("project", {})
    declared: dict[str, object] = {
        "recipe": RECIPE,
        "project": {key: project.get(key) for key in DECLARING_TABLES},
        "groups": pyproject.get("dependency-groups"),
        "build-system": pyproject.get("build-system"),
    }
    for path in (worktree / UV_LOCK, worktree / PYTHON_VERSION_FILE, *requirement_files(worktree)):
        if path.is_file():
            declared[str(path.relative_to(worktree))] = path.read_text(encoding="utf-8")
    return declared


class UvEnvironment:
    name = "uv"

    def __init__(
        self, *, uv: str, envs_dir: Path, python: str | None, caller_env: Mapping[str, str]
    ) -> None:
        self.uv = uv
        self.envs_dir = envs_dir
        # None lets uv choose from the project's .python-version and requires-python.
        self.python = python
        self.caller_env = caller_env

    def key(self, worktree: Path) -> str:
        declared = {**_declarations(worktree), "python": self.python}
        text = json.dumps(declared, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def source(self, worktree: Path) -> str:
        if (worktree / UV_LOCK).is_file():
            return UV_LOCK
        files = [PYPROJECT] if (worktree / PYPROJECT).is_file() else []
        files += [str(path.relative_to(worktree)) for path in requirement_files(worktree)]
        return ", ".join(files) or "no declarations"

    def prepare(self, worktree: Path, on_progress: Progress = no_progress) -> CommandEnvironment:
        venv = self.envs_dir / self.key(worktree)
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        # Two runs of one project may start together; the second waits for the first's build.
        with (self.envs_dir / f"{venv.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (venv / COMPLETE_MARKER).is_file():
                on_progress(f"Project environment: {venv} (built earlier by uv, reused)")
            else:
                on_progress(
                    f"Building the project environment with uv from {self.source(worktree)} "
                    f"in {venv} ..."
                )
                self._build(worktree, venv, on_progress)
                on_progress("Project environment built")
        env = minimal_env()
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
        env["VIRTUAL_ENV"] = str(venv)
        env["PYTHONPATH"] = python_path(worktree)
        return CommandEnvironment(
            env=env,
            readable=(venv,),
            description=f"uv environment {venv} from {self.source(worktree)}, importing from "
            f"{env['PYTHONPATH']}",
        )

    def _build(self, worktree: Path, venv: Path, on_progress: Progress) -> None:
        shutil.rmtree(venv, ignore_errors=True)  # what an interrupted build left
        python = ["--python", self.python] if self.python else []
        self._uv(worktree, venv, ["venv", "--quiet", *python, str(venv)])
        if (worktree / UV_LOCK).is_file():
            self._uv(
                worktree,
                venv,
                ["sync", "--frozen", "--all-extras", "--all-groups", "--no-install-project"],
            )
        else:
            self._install_declared(worktree, venv)
        self._install_project_metadata(worktree, venv, on_progress)
        (venv / COMPLETE_MARKER).write_text(self.source(worktree) + "\n", encoding="utf-8")

    def _install_declared(self, worktree: Path, venv: Path) -> None:
        sources: list[str] = []
        pyproject = read_pyproject(worktree)
        if (worktree / PYPROJECT).is_file():
            sources += ["-r", PYPROJECT, "--all-extras"]
            for group in dependency_groups(pyproject):
                sources += ["--group", group]
        for path in requirement_files(worktree):
            sources += ["-r", str(path.relative_to(worktree))]
        if sources:
            self._uv(
                worktree,
                venv,
                ["pip", "install", "--python", str(venv / "bin" / "python"), *sources],
            )

    def _install_project_metadata(self, worktree: Path, venv: Path, on_progress: Progress) -> None:
        """The project installed editable from the worktree it was built from, which is removed
        afterwards: its metadata (`importlib.metadata.version`, entry points, console scripts)
        stays, its code is reached only through PYTHONPATH. Needs the project's build backend;
        without one (offline, say) the environment goes on without the metadata."""
        if not any((worktree / name).is_file() for name in (PYPROJECT, "setup.py")):
            return
        python = str(venv / "bin" / "python")
        done = self._run(
            worktree, venv, ["pip", "install", "--python", python, "--no-deps", "-e", "."]
        )
        if done is None or done.returncode != 0:
            why = "timed out" if done is None else (done.stderr or done.stdout).strip()[-300:]
            on_progress(
                "The project itself could not be installed in its environment, so its own "
                f"metadata and console scripts are missing there: {why}"
            )

    def _run(
        self, worktree: Path, venv: Path, args: list[str]
    ) -> subprocess.CompletedProcess[str] | None:
        """uv's answer, or None when it ran out of time."""
        # uv runs outside the sandbox with the caller's settings (index, proxy, cache), as the
        # user's own `uv sync` would; it writes only the environment and its cache.
        env = {k: v for k, v in self.caller_env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)
        try:
            return subprocess.run(
                [self.uv, *args],
                cwd=worktree,
                env=env,
                capture_output=True,
                text=True,
                timeout=BUILD_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None

    def _uv(self, worktree: Path, venv: Path, args: list[str]) -> None:
        done = self._run(worktree, venv, args)
        if done is None:
            raise ProjectEnvironmentError(
                f"uv did not build the project environment within {BUILD_SECONDS} s "
                f'({" ".join(args)}); set [environment] python = "inherit" in autopack.toml '
                "to use the caller's environment instead"
            )
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise ProjectEnvironmentError(
                f"uv could not build the project environment from {self.source(worktree)} "
                f"(`uv {' '.join(args)}` exited {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-1500:]}\nFix the project's "
                'declarations, or set [environment] python = "inherit" in autopack.toml to '
                "run its commands in the caller's environment"
            )
