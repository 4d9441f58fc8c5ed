"""Before anything is verified: the interpreter the commands use is asked where the project's
top-level package would be imported from, and a worktree whose package resolves elsewhere (a copy
installed in the caller's environment, say) is refused, since its verdicts would be meaningless."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from autopack.verify.base import Limits, Sandbox
from autopack.verify.environment.base import CommandEnvironment, ProjectEnvironmentError
from autopack.verify.environment.python_layout import top_level_package

# find_spec locates the package as `import` would, without running it: a worktree whose package
# raises on import is still found where it is (and fails its tests, not this check).
WHERE = (
    "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
    "print('' if spec is None else spec.origin or next(iter(spec.submodule_search_locations), ''))"
)
LIMITS = Limits(wall_seconds=120)
PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _interpreter_of(command: str, path: str | None) -> str | None:
    """The Python a command starts: its program when that is an interpreter, else the one in
    its program's shebang (a console script such as pytest); None for anything else."""
    try:
        words = [word for word in shlex.split(command) if not ENV_ASSIGNMENT.match(word)]
    except ValueError:
        return None
    if not words:
        return None
    if PYTHON.fullmatch(Path(words[0]).name):
        return words[0]
    program = shutil.which(words[0], path=path)
    if program is None:
        return None
    try:
        with open(program, "rb") as script:
            first = script.readline(512).decode(errors="replace")
    except OSError:
        return None
    shebang = first[2:].split() if first.startswith("#!") else []
    if shebang and Path(shebang[0]).name == "env":  # #!/usr/bin/env python3
        shebang = [word for word in shebang[1:] if not word.startswith("-")]
    return shebang[0] if shebang and PYTHON.fullmatch(Path(shebang[0]).name) else None


def interpreters(commands: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """The interpreters the profile's commands run, `python` (or `python3`) on PATH if none."""
    found = {_interpreter_of(command, env.get("PATH")) for command in commands} - {None}
    if found:
        return sorted(python for python in found if python is not None)
    return ["python" if shutil.which("python", path=env.get("PATH")) else "python3"]


def check_package_resolves(
    worktree: Path,
    sandbox: Sandbox,
    environment: CommandEnvironment,
    commands: Iterable[str] = (),
) -> Path | None:
    """Where the package resolves (inside the worktree) for each interpreter the commands use,
    or None for a project without a package."""
    package = top_level_package(worktree)
    if package is None:
        return None
    origin = None
    for python in interpreters(commands, environment.env):
        origin = _resolve(worktree, sandbox, environment, package, python)
    return origin


def _resolve(
    worktree: Path, sandbox: Sandbox, environment: CommandEnvironment, package: str, python: str
) -> Path:
    command = f"{shlex.quote(python)} -c {shlex.quote(WHERE)} {shlex.quote(package)}"
    result = sandbox.reading(environment.readable).run(
        command, cwd=worktree, writable=[], limits=LIMITS, env=environment.env
    )
    if result.exit_code != 0:
        raise ProjectEnvironmentError(
            f"could not ask {python} where the project's package {package!r} is imported from "
            f"(exit {result.exit_code}) in {environment.description}: "
            f"{(result.stderr or result.stdout).strip()[-800:]}"
        )
    lines = result.stdout.strip().splitlines()
    if not lines or not lines[-1]:
        raise ProjectEnvironmentError(
            f"the project's package {package!r} is not importable by {python} in "
            f"{environment.description}, "
            "so its tests could not import the worktree's code. Put it in src/ or at the top of "
            "the repository (its import root is src/ when src/ holds a package, else the top)"
        )
    origin = Path(lines[-1])
    if not origin.resolve().is_relative_to(worktree.resolve()):
        raise ProjectEnvironmentError(
            f"{python} imports the project's package {package!r} from {origin}, outside the "
            f"worktree {worktree}, so its tests would not test the worktree's code. Set [environment] "
            'python = "uv" in autopack.toml (an environment built from the project\'s '
            "declarations), or uninstall the project from the environment on PATH"
        )
    return origin
