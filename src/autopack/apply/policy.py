"""Where a change may write, judged on the entries git will record (or the engine will write).

Every rule has a name; a violation names the path and the rule, so it can be recorded as a major
`policy` issue and the phase can follow its strategy. The same `judge_entries` serves the gate
(entries read from git) and the patch engine (entries of the files it is about to swap in).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autopack.apply.patch import ChangeKind, FileChange, Patch
from autopack.apply.paths import normalised_path, protected_by
from autopack.errors import PolicyViolation
from autopack.workspace.base import Entry

REGULAR_MODES = ("100644", "100755")
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"

DEFAULT_PROTECTED_PATHS: tuple[str, ...] = (
    ".github/workflows/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    "autopack.toml",
    ".autopack/**",
    ".autonomous_runs/**",
)


class WritePolicy(BaseModel):
    """`[policy]` in autopack.toml. Setting some keys keeps the defaults of the others.

    `protected_paths` adds to the default protected globs; giving one of those up takes naming it
    in `unprotect`, which `autopack plan` and RUN_SUMMARY.md then show.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protected_paths: tuple[str, ...] = ()
    unprotect: tuple[str, ...] = ()
    # Globs where a symlink may be created, and only one whose target stays inside the repository.
    symlinks: tuple[str, ...] = ()
    allow_binary: bool = False
    max_files: int = Field(default=100, ge=1)
    max_changed_lines: int = Field(default=5_000, ge=1)
    max_bytes: int = Field(default=2_000_000, ge=1)

    @model_validator(mode="after")
    def _unprotect_names_defaults(self) -> WritePolicy:
        unknown = [glob for glob in self.unprotect if glob not in DEFAULT_PROTECTED_PATHS]
        if unknown:
            raise ValueError(
                f"unprotect names {', '.join(map(repr, unknown))}, not a default protected path "
                f"(defaults: {', '.join(DEFAULT_PROTECTED_PATHS)})"
            )
        return self

    @property
    def protected(self) -> tuple[str, ...]:
        kept = [glob for glob in DEFAULT_PROTECTED_PATHS if glob not in self.unprotect]
        return tuple(dict.fromkeys([*kept, *self.protected_paths]))


def _check_symlink_entry(entry: Entry, policy: WritePolicy) -> None:
    if protected_by(entry.path, policy.symlinks) is None:
        raise PolicyViolation(
            entry.path,
            "mode.symlink",
            "symlinks may not be created (allow some with [policy] symlinks)",
        )
    target = entry.symlink_target or ""
    if not target:
        raise PolicyViolation(
            entry.path, "mode.symlink", "the symlink's target is unknown (over the size cap)"
        )
    if target.startswith("/"):
        raise PolicyViolation(
            entry.path, "mode.symlink", f"the symlink's target {target!r} is outside the repository"
        )
    try:
        normalised_path(posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), target)))
    except PolicyViolation as violation:
        raise PolicyViolation(
            entry.path,
            "mode.symlink",
            f"the symlink's target {target!r} is refused: {violation.detail}",
        ) from None


def _check_mode(entry: Entry, policy: WritePolicy) -> None:
    if GITLINK_MODE in (entry.old_mode, entry.new_mode):
        raise PolicyViolation(
            entry.path,
            "mode.gitlink",
            "a nested git repository (a gitlink, as for a submodule) was created or changed here; "
            "commit its files as plain files instead",
        )
    if entry.status == "D":
        return
    if entry.new_mode == SYMLINK_MODE:
        _check_symlink_entry(entry, policy)
    elif entry.new_mode not in REGULAR_MODES:
        raise PolicyViolation(
            entry.path,
            "mode.unsupported",
            f"mode {entry.new_mode} is not allowed (only 100644 and 100755)",
        )


def judge_entries(entries: Sequence[Entry], policy: WritePolicy) -> None:
    """Raise the first PolicyViolation among the entries; silence means every rule holds."""
    if not entries:
        raise PolicyViolation("(patch)", "patch.empty", "the patch changes nothing")
    if len(entries) > policy.max_files:
        raise PolicyViolation(
            "(patch)", "size.files", f"{len(entries)} files exceed the cap of {policy.max_files}"
        )
    protected = policy.protected
    for entry in entries:
        normal = normalised_path(entry.path)
        if normal != entry.path:
            raise PolicyViolation(
                entry.path, "path.not_normal", f"the path is not in normal form ({normal!r})"
            )
        glob = protected_by(entry.path, protected)
        if glob is not None:
            raise PolicyViolation(entry.path, "path.protected", f"protected by {glob!r}")
        _check_mode(entry, policy)
        if entry.binary and not policy.allow_binary:
            raise PolicyViolation(entry.path, "content.binary", "binary content is not allowed")
    total_lines = sum(entry.added_lines + entry.removed_lines for entry in entries)
    if total_lines > policy.max_changed_lines:
        raise PolicyViolation(
            "(patch)",
            "size.lines",
            f"{total_lines} changed lines exceed the cap of {policy.max_changed_lines}",
        )
    total_bytes = sum(entry.size for entry in entries)
    if total_bytes > policy.max_bytes:
        raise PolicyViolation(
            "(patch)", "size.bytes", f"{total_bytes} bytes exceed the cap of {policy.max_bytes}"
        )


def check_symlinks(root: Path, path: str) -> None:
    """Refuse any write through, onto or creating a symlink: each can reach outside the repository.

    With every component a real folder or file, a normalised path cannot resolve outside `root`."""
    current = root
    for part in path.split("/"):
        current = current / part
        if current.is_symlink():
            raise PolicyViolation(
                path,
                "path.symlink",
                f"{current.relative_to(root)} is a symlink; writes through symlinks are refused",
            )


def check_patch(root: Path, patch: Patch, policy: WritePolicy) -> Patch:
    """The patch with every path normalised, or the first PolicyViolation; reads no file contents.

    Names and shape only: what the files will hold is judged by `judge_entries` once computed.
    """
    if not patch.changes:
        raise PolicyViolation("(patch)", "patch.empty", "the patch changes nothing")
    if len(patch.changes) > policy.max_files:
        raise PolicyViolation(
            "(patch)",
            "size.files",
            f"{len(patch.changes)} files exceed the cap of {policy.max_files}",
        )
    seen: set[str] = set()
    checked: list[FileChange] = []
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
            glob = protected_by(target, policy.protected)
            if glob is not None:
                raise PolicyViolation(target, "path.protected", f"protected by {glob!r}")
            check_symlinks(root, target)
        if change.mode is not None and change.mode not in REGULAR_MODES:
            kind = {SYMLINK_MODE: "mode.symlink", GITLINK_MODE: "mode.gitlink"}
            raise PolicyViolation(
                targets[0],
                kind.get(change.mode, "mode.unsupported"),
                f"mode {change.mode} is not allowed (only 100644 and 100755)",
            )
        if change.binary and not policy.allow_binary:
            raise PolicyViolation(targets[0], "content.binary", "binary content is not allowed")
        if (
            change.kind is ChangeKind.EDIT
            and not change.hunks
            and change.move_to is None
            and not change.binary
        ):
            raise PolicyViolation(
                targets[0], "patch.malformed", "an edit without hunks changes nothing"
            )
        checked.append(
            change.model_copy(
                update={"path": targets[0], "move_to": targets[1] if len(targets) > 1 else None}
            )
        )
    return patch.model_copy(update={"changes": tuple(checked)})
