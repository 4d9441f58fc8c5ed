"""Before anything is verified: the interpreter the commands use is asked where the project's
top-level package would be imported from, and a worktree whose package resolves elsewhere (a copy
installed in the caller's environment, say) is refused, since its verdicts would be meaningless."""

from __future__ import annotations

import shlex
import shutil
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


def _python(env: dict[str, str]) -> str:
    return "python" if shutil.which("python", path=env.get("PATH")) else "python3"


def check_package_resolves(
    worktree: Path, sandbox: Sandbox, environment: CommandEnvironment
) -> Path | None:
    """Where the package resolves (inside the worktree), or None for a project without one."""
    package = top_level_package(worktree)
    if package is None:
        return None
    command = f"{_python(environment.env)} -c {shlex.quote(WHERE)} {shlex.quote(package)}"
    result = sandbox.reading(environment.readable).run(
        command, cwd=worktree, writable=[], limits=LIMITS, env=environment.env
    )
    if result.exit_code != 0:
        raise ProjectEnvironmentError(
            f"could not ask Python where the project's package {package!r} is imported from "
            f"(exit {result.exit_code}) in {environment.description}: "
            f"{(result.stderr or result.stdout).strip()[-800:]}"
        )
    lines = result.stdout.strip().splitlines()
    if not lines or not lines[-1]:
        raise ProjectEnvironmentError(
            f"the project's package {package!r} is not importable in {environment.description}, "
            "so its tests could not import the worktree's code. Put it in src/ or at the top of "
            "the repository (its import root is src/ when src/ holds a package, else the top)"
        )
    origin = Path(lines[-1])
    if not origin.resolve().is_relative_to(worktree.resolve()):
        raise ProjectEnvironmentError(
            f"the project's package {package!r} is imported from {origin}, outside the worktree "
            f"{worktree}, so its tests would not test the worktree's code. Set [environment] "
            'python = "uv" in autopack.toml (an environment built from the project\'s '
            "declarations), or uninstall the project from the environment on PATH"
        )
    return origin
