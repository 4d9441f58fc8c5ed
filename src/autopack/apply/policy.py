"""Where a patch may write, decided before anything is read or written.

Every rule has a name; a violation names the path and the rule, so it can be recorded as a major
`policy` issue and the phase can follow its strategy.
"""

from __future__ import annotations

import posixpath
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from autopack.apply.patch import ChangeKind, FileChange, Patch
from autopack.errors import PolicyViolation

SYMLINK_MODE = "120000"


class WritePolicy(BaseModel):
    """`[policy]` in autopack.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protected_paths: tuple[str, ...] = ()
    allow_binary: bool = False
    max_files: int = Field(default=100, ge=1)
    max_changed_lines: int = Field(default=5_000, ge=1)
    max_bytes: int = Field(default=2_000_000, ge=1)


def normalised_path(raw: str) -> str:
    """The repo-relative POSIX path a patch names, or a PolicyViolation saying why it is not one."""
    if not raw or not raw.strip():
        raise PolicyViolation(raw or "(empty)", "path.empty", "the path is empty")
    if "\x00" in raw or any(ord(char) < 32 for char in raw):
        raise PolicyViolation(
            repr(raw), "path.control_characters", "the path contains control characters"
        )
    if "\\" in raw:
        raise PolicyViolation(raw, "path.backslash", "backslashes are not allowed in paths")
    if raw.startswith("/") or raw.startswith("~") or (len(raw) > 1 and raw[1] == ":"):
        raise PolicyViolation(raw, "path.absolute", "absolute paths are not allowed")
    parts = raw.split("/")
    if ".." in parts:
        raise PolicyViolation(raw, "path.traversal", "'..' is not allowed in paths")
    normal = posixpath.normpath(raw)
    if normal in (".", "") or normal.startswith("../"):
        raise PolicyViolation(
            raw, "path.outside_repo", "the path does not name a file inside the repository"
        )
    if any(part.lower() == ".git" for part in normal.split("/")):
        raise PolicyViolation(raw, "path.git_internals", "nothing under .git may be written")
    return normal


def _protected(path: str, globs: tuple[str, ...]) -> str | None:
    for glob in globs:
        if fnmatchcase(path, glob) or fnmatchcase(path, glob.removesuffix("/**")):
            return glob
    return None


def _check_symlinks(root: Path, path: str) -> None:
    """Refuse any write through, onto or creating a symlink: each can reach outside the repository."""
    current = root
    for part in path.split("/"):
        current = current / part
        if current.is_symlink():
            raise PolicyViolation(
                path,
                "path.symlink",
                f"{current.relative_to(root)} is a symlink; writes through symlinks are refused",
            )
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise PolicyViolation(path, "path.outside_repo", "the path resolves outside the repository")


def _is_binary(text: str | None) -> bool:
    return text is not None and "\x00" in text


def _changed_lines(change: FileChange) -> int:
    if change.content is not None:
        return change.content.count("\n") + 1
    return sum(hunk.search.count("\n") + hunk.replace.count("\n") for hunk in change.hunks)


def check_patch(root: Path, patch: Patch, policy: WritePolicy) -> Patch:
    """The patch with every path normalised, or the first PolicyViolation; reads no file contents."""
    if not patch.changes:
        raise PolicyViolation("(patch)", "patch.empty", "the patch changes nothing")
    if len(patch.changes) > policy.max_files:
        raise PolicyViolation(
            "(patch)",
            "size.files",
            f"{len(patch.changes)} files exceed the cap of {policy.max_files}",
        )
    seen: set[str] = set()
    checked = []
    total_lines = 0
    total_bytes = 0
    for change in patch.changes:
        targets = [normalised_path(change.path)]
        if change.move_to is not None:
            targets.append(normalised_path(change.move_to))
        for target in targets:
            if target in seen:
                raise PolicyViolation(
                    target, "patch.conflicting", "the patch changes this path more than once"
                )
            seen.add(target)
            glob = _protected(target, policy.protected_paths)
            if glob is not None:
                raise PolicyViolation(target, "path.protected", f"protected by {glob!r}")
            _check_symlinks(root, target)
        if change.mode == SYMLINK_MODE:
            raise PolicyViolation(targets[0], "path.symlink", "patches may not create symlinks")
        binary = (
            change.binary
            or _is_binary(change.content)
            or any(_is_binary(h.replace) for h in change.hunks)
        )
        if binary and not policy.allow_binary:
            raise PolicyViolation(targets[0], "content.binary", "binary content is not allowed")
        if (
            change.kind is ChangeKind.EDIT
            and not change.hunks
            and change.move_to is None
            and not binary
        ):
            raise PolicyViolation(
                targets[0], "patch.malformed", "an edit without hunks changes nothing"
            )
        total_lines += _changed_lines(change)
        total_bytes += len((change.content or "").encode()) + sum(
            len(h.replace.encode()) for h in change.hunks
        )
        checked.append(
            change.model_copy(
                update={"path": targets[0], "move_to": targets[1] if len(targets) > 1 else None}
            )
        )
    if total_lines > policy.max_changed_lines:
        raise PolicyViolation(
            "(patch)",
            "size.lines",
            f"{total_lines} changed lines exceed the cap of {policy.max_changed_lines}",
        )
    if total_bytes > policy.max_bytes:
        raise PolicyViolation(
            "(patch)", "size.bytes", f"{total_bytes} bytes exceed the cap of {policy.max_bytes}"
        )
    return patch.model_copy(update={"changes": tuple(checked)})
