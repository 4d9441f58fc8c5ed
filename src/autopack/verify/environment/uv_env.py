"""An isolated virtual environment per project, built by uv from the project's own declarations
(uv.lock, else pyproject.toml and requirements files) and cached outside the worktree by a hash of
what they declare, so runs and attempts share it until the declarations change.

The project itself is not installed into it: the worktree's import roots come first on
PYTHONPATH, so each attempt imports its own code without a build backend or a network.
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
RECIPE = "1"


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
                self._build(worktree, venv)
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

    def _build(self, worktree: Path, venv: Path) -> None:
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

    def _uv(self, worktree: Path, venv: Path, args: list[str]) -> None:
        # uv runs outside the sandbox with the caller's settings (index, proxy, cache), as the
        # user's own `uv sync` would; it writes only the environment and its cache.
        env = {k: v for k, v in self.caller_env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)
        command = [self.uv, *args]
        try:
            done = subprocess.run(
                command,
                cwd=worktree,
                env=env,
                capture_output=True,
                text=True,
                timeout=BUILD_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ProjectEnvironmentError(
                f"uv did not build the project environment within {BUILD_SECONDS} s "
                f'({" ".join(args)}); set [environment] python = "inherit" in autopack.toml '
                "to use the caller's environment instead"
            ) from None
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise ProjectEnvironmentError(
                f"uv could not build the project environment from {self.source(worktree)} "
                f"(`uv {' '.join(args)}` exited {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-1500:]}\nFix the project's "
                'declarations, or set [environment] python = "inherit" in autopack.toml to '
                "run its commands in the caller's environment"
            )
