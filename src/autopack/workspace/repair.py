"""What a killed git leaves behind in a repository's admin files, found and cleared by path.

`git worktree add` marks a new worktree `locked` ("initializing") until its checkout is done and
takes `*.lock` files around every ref and index it writes; killed, it leaves them all behind and
git's own `worktree remove --force` and `worktree prune` then skip the worktree for good. These
functions read and remove those files directly; no git process is run here.

A worktree is attributed to a folder only by its admin dir's own `gitdir` file, which lives in the
repository's git dir: the `.git` file inside a worktree is the agent's to overwrite, so trusting it
could point a clean-up at the user's own worktree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LOCKED_MARKER = "locked"


def admin_dirs(common_dir: Path) -> list[Path]:
    """Every linked worktree's admin dir, `<common git dir>/worktrees/<id>`."""
    folder = common_dir / "worktrees"
    try:
        return sorted(child for child in folder.iterdir() if child.is_dir())
    except OSError:
        return []


def registered_folder(admin: Path) -> Path | None:
    """The worktree folder an admin dir registers; None when its `gitdir` file is missing or empty.

    An admin dir killed before git wrote `gitdir` names no folder at all, so it cannot be told
    apart from another process's worktree being made at this moment, and is never attributed.
    """
    try:
        text = (admin / "gitdir").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text:
        return None
    # Newer git may write it relative to the admin dir (worktree.useRelativePaths).
    dot_git = Path(text) if Path(text).is_absolute() else admin / text
    return dot_git.parent.resolve()


def admin_dirs_under(common_dir: Path, root: Path) -> list[Path]:
    """The admin dirs of worktrees whose folder is `root` or lies inside it."""
    root = root.resolve()
    owned = []
    for admin in admin_dirs(common_dir):
        folder = registered_folder(admin)
        if folder is not None and folder.is_relative_to(root):
            owned.append(admin)
    return owned


def admin_dirs_of(common_dir: Path, folder: Path) -> list[Path]:
    """The admin dirs registering exactly `folder` (one, unless git was cut short repeatedly)."""
    target = folder.resolve()
    return [admin for admin in admin_dirs(common_dir) if registered_folder(admin) == target]


def _lock_files(folder: Path) -> list[Path]:
    # os.walk skips a folder that vanishes or cannot be read instead of raising, as rglob would.
    return sorted(
        Path(top) / name
        for top, _, names in os.walk(folder)
        for name in names
        if name.endswith(".lock")
    )


def clear_locks(admin: Path) -> list[Path]:
    """Remove the `locked` marker and every `*.lock` file (index, HEAD, ORIG_HEAD, refs) of one
    worktree's admin dir; the files removed."""
    removed = []
    marker = admin / LOCKED_MARKER
    candidates = [marker] if marker.is_file() else []
    candidates += _lock_files(admin)
    for path in candidates:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def clear_ref_locks(common_dir: Path, branch: str) -> list[Path]:
    """Remove the lock of `refs/heads/<branch>` and every lock under `refs/tags/<branch>/`, where
    the run's phase tags live."""
    removed = []
    branch_lock = common_dir / "refs" / "heads" / f"{branch}.lock"
    candidates = [branch_lock] if branch_lock.is_file() else []
    tags = common_dir / "refs" / "tags" / branch
    candidates += _lock_files(tags)
    for path in candidates:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def drop_admin_dir(admin: Path) -> None:
    """What `git worktree prune` does to one entry, without touching anybody else's."""
    shutil.rmtree(admin, ignore_errors=True)


def admin_dir_named_by(common_dir: Path, folder: Path) -> Path | None:
    """The admin dir `folder`'s `.git` file names, when that admin dir registers `folder` back."""
    try:
        pointer = (folder / ".git").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not pointer.startswith("gitdir:"):
        return None
    named = Path(pointer.removeprefix("gitdir:").strip())
    admin = (named if named.is_absolute() else folder / named).resolve()
    if admin.parent != (common_dir / "worktrees").resolve():
        return None
    return admin if registered_folder(admin) == folder.resolve() else None


def worktree_problem(folder: Path, admin: Path, head: str) -> str | None:
    """Why the worktree `folder` (registered by `admin`) is not one git finished making with a
    HEAD file reading `head`; None when it is. `head` is what git writes there:
    `ref: refs/heads/<branch>` or a full hash."""
    if (admin / LOCKED_MARKER).exists():
        return f"{folder} is locked, as a cut-short git worktree add leaves it"
    try:
        recorded = (admin / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if recorded != head:
        return f"{folder} has HEAD {recorded or 'missing'!r} where {head!r} was expected"
    if not (admin / "index").is_file():
        return f"{folder} has no index, so its checkout never finished"
    return None
