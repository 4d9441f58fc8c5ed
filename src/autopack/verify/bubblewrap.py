"""The default sandbox: bubblewrap with no network (loopback included), a read-only system, a
private /tmp, only the worktree (and report folders) writable, and prlimit's CPU, memory and
file-size caps."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from autopack.errors import AutopackError
from autopack.verify.base import CommandResult, Limits
from autopack.verify.limits_exec import run_limited


class SandboxUnavailable(AutopackError):
    """The sandbox cannot run here; the message says how to install it or opt out."""

    exit_code = 6


class BubblewrapSandbox:
    name = "bubblewrap"

    def __init__(self, readable: Sequence[Path] = ()) -> None:
        self.readable = tuple(readable)
        bwrap = shutil.which("bwrap")
        prlimit = shutil.which("prlimit")
        if bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: install it with `sudo apt-get install bubblewrap` "
                "(Debian/Ubuntu) or `sudo dnf install bubblewrap`, or pass --no-sandbox to run CI "
                "commands unsandboxed (recorded in the run and its summary)"
            )
        if prlimit is None:
            raise SandboxUnavailable(
                "prlimit (util-linux) is not installed; it enforces CPU, memory and file-size limits"
            )
        self.bwrap: str = bwrap
        self.prlimit: str = prlimit

    def _visible_under_tmp(self, env: Mapping[str, str]) -> list[Path]:
        """Paths under /tmp that commands still need once /tmp is private: the PATH directories,
        the Python environment Autopack runs in, and any the caller named."""
        candidates = [Path(entry) for entry in env.get("PATH", "").split(os.pathsep) if entry]
        candidates += [Path(sys.prefix), Path(sys.base_prefix), *self.readable]
        tmp = Path("/tmp")
        return sorted(
            {p.resolve() for p in candidates if p.exists() and p.resolve().is_relative_to(tmp)}
        )

    def argv(
        self,
        command: str,
        *,
        cwd: Path,
        writable: Sequence[Path],
        limits: Limits,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        binds: list[str] = []
        for path in self._visible_under_tmp(env or {}):
            binds += ["--ro-bind", str(path), str(path)]
        for path in (cwd, *writable):
            binds += ["--bind", str(path), str(path)]
        return [
            self.prlimit,
            f"--cpu={limits.cpu_seconds}",
            f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_size_bytes}",
            "--",
            self.bwrap,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            # Bound after /tmp so tools and worktrees that live under /tmp stay visible.
            *binds,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--chdir", str(cwd),
            "sh", "-c", command,
        ]  # fmt: skip

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        writable: Sequence[Path],
        limits: Limits,
        env: Mapping[str, str],
    ) -> CommandResult:
        argv = self.argv(command, cwd=cwd, writable=writable, limits=limits, env=env)
        return run_limited(argv, cwd=cwd, limits=limits, env=env)


class NoSandbox:
    """The explicit `--no-sandbox` opt-out: same limits on time and output, no isolation."""

    name = "none"

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        writable: Sequence[Path],
        limits: Limits,
        env: Mapping[str, str],
    ) -> CommandResult:
        return run_limited(["sh", "-c", command], cwd=cwd, limits=limits, env=env)
