"""The default sandbox: bubblewrap with no network (loopback included), only what commands need of
the host (read-only), a private /tmp and $HOME, only the worktree (and report folders) writable,
and prlimit's CPU, memory and file-size caps."""

from __future__ import annotations

import copy
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from autopack.errors import AutopackError
from autopack.verify.base import CommandResult, Limits
from autopack.verify.limits_exec import run_limited

# On merged-/usr systems all but /usr are symlinks into it, recreated as symlinks.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What programs read from /etc; the rest of it (shadow, credentials in pip.conf or npmrc, ...) stays out.
ETC_ENTRIES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates",
    "ca-certificates.conf", "pki", "crypto-policies", "passwd", "group", "nsswitch.conf", "hosts",
    "host.conf", "localtime", "timezone", "mime.types", "gitconfig", "os-release", "lsb-release",
    "debian_version", "locale.alias", "locale.conf", "services", "protocols", "fonts", "python3*",
)  # fmt: skip
SANDBOX_HOME = "/home/sandbox"
PYVENV_CFG = "pyvenv.cfg"


class SandboxUnavailable(AutopackError):
    """The sandbox cannot run here; the message says how to install it or opt out."""

    exit_code = 6


def _under(path: Path, roots: Iterable[str]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _system_args() -> list[str]:
    args: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for path in sorted({p for pattern in ETC_ENTRIES for p in Path("/etc").glob(pattern)}):
        # A symlink into /usr stays a symlink: tools read the time zone's name from its target.
        if path.is_symlink() and _under(path.resolve(), ["/usr"]):
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _is_venv(folder: Path) -> bool:
    return folder.is_absolute() and (folder / PYVENV_CFG).is_file()


def _interpreter_home(venv: Path) -> list[Path]:
    """The installation a virtual environment's interpreter comes from (pyvenv.cfg's `home` is
    its bin/; the standard library is beside it), unless it is part of the system."""
    for line in (venv / PYVENV_CFG).read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            home = Path(value.strip())
            prefix = home.parent if home.name == "bin" else home
            system = _under(home.resolve(), SYSTEM_DIRS) or len(prefix.resolve().parts) < 2
            return [] if system else [prefix]
    return []


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

    def reading(self, paths: Sequence[Path]) -> BubblewrapSandbox:
        extended = copy.copy(self)
        extended.readable = (*self.readable, *paths)
        return extended

    def _readable(self, env: Mapping[str, str]) -> list[Path]:
        """The Python environment Autopack runs in, each PATH directory (a virtual environment's
        as a whole), the environment named by VIRTUAL_ENV and the configured paths."""
        path_entries = [Path(entry) for entry in env.get("PATH", "").split(os.pathsep) if entry]
        venvs = [entry.parent for entry in path_entries if _is_venv(entry.parent)]
        if env.get("VIRTUAL_ENV") and _is_venv(Path(env["VIRTUAL_ENV"])):
            venvs.append(Path(env["VIRTUAL_ENV"]))
        path_entries += [path for venv in venvs for path in (venv, *_interpreter_home(venv))]
        # Version managers' shims (pyenv, asdf, rbenv) run the manager from its own root: that
        # root is a tool installation, bound too, unless it is the home folder itself.
        path_entries += [
            entry.parent
            for entry in path_entries
            if entry.name == "shims" and entry.parent not in (Path.home(), Path("/"))
        ]
        prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
        return [*map(Path, sorted(prefixes)), *path_entries, *self.readable]

    def _binds(
        self, cwd: Path, writable: Sequence[Path], env: Mapping[str, str]
    ) -> list[tuple[str, str, str]]:
        rw = [str(p.absolute()) for p in (cwd, *writable) if p.exists()]
        mounts: dict[str, tuple[str, str]] = {}
        for path in self._readable(env):
            if not path.is_absolute() or not path.exists():
                continue
            # Bound where the commands name it and where it really is (a symlinked venv or PATH entry).
            for dest in (str(Path(os.path.normpath(path))), str(path.resolve())):
                if not _under(Path(dest), [*SYSTEM_DIRS, *rw]):
                    mounts.setdefault(dest, ("--ro-bind", str(path.resolve())))
        mounts.update((dest, ("--bind", dest)) for dest in rw)
        for dest, (_, source) in list(mounts.items()):
            # A repository's config may hold credentials in remote URLs; worktrees have a .git file.
            if Path(source, ".git").is_dir():
                mounts[str(Path(dest, ".git"))] = ("--tmpfs", "")
        # Parents first, so a worktree inside a read-only tree is mounted on top of it.
        ordered = sorted(mounts.items(), key=lambda item: len(Path(item[0]).parts))
        return [(option, source, dest) for dest, (option, source) in ordered]

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
        for option, source, dest in self._binds(cwd, writable, env or {}):
            binds += [option, dest] if option == "--tmpfs" else [option, source, dest]
        return [
            self.prlimit,
            f"--cpu={limits.cpu_seconds}",
            f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_size_bytes}",
            "--",
            self.bwrap,
            *_system_args(),
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--tmpfs", SANDBOX_HOME,
            "--setenv", "HOME", SANDBOX_HOME,
            # After /tmp and $HOME so tools and worktrees that live under them stay visible.
            *binds,
            # Writes anywhere else fail loudly, as on the read-only system, instead of vanishing.
            "--dir", "/var/tmp",
            "--remount-ro", "/",
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

    def reading(self, paths: Sequence[Path]) -> NoSandbox:
        return self  # every host path is readable already

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
