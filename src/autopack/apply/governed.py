"""Apply a checked patch to a directory: every hunk fits or nothing is written.

New contents are computed in memory first; only then are files swapped in, with the originals
kept aside so that any failure while writing puts every file back as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autopack.apply import diagnostics
from autopack.apply.matching import Ambiguous, MatchLevel, locate
from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch
from autopack.apply.policy import WritePolicy, check_patch, judge_entries
from autopack.errors import PatchApplyError
from autopack.workspace.base import Entry


@dataclass(frozen=True)
class HunkOutcome:
    path: str
    number: int
    level: MatchLevel | None
    already_applied: bool = False


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    hunks: list[HunkOutcome] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.deleted)


@dataclass(frozen=True)
class _Planned:
    path: str
    content: str | None  # None deletes the file
    old_mode: str | None = None  # None: the file does not exist yet
    added: int = 0
    removed: int = 0

    def entry(self) -> Entry:
        """The entry git will record for this file, judged by the same rules as the gate's."""
        if self.content is None:
            return Entry(
                path=self.path,
                status="D",
                old_mode=self.old_mode or "100644",
                removed_lines=self.removed,
            )
        data = self.content.encode("utf-8", "surrogateescape")
        return Entry(
            path=self.path,
            status="A" if self.old_mode is None else "M",
            old_mode=self.old_mode or "000000",
            new_mode=self.old_mode or "100644",
            size=len(data),
            binary=b"\0" in data,
            added_lines=self.added,
            removed_lines=self.removed,
        )


class _Errors:
    """Diagnostics in order, and the rule of the first: what the refusal is named by."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.rule: str | None = None

    def add(self, rule: str, message: str) -> None:
        self.rule = self.rule or rule
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def raise_if_any(self) -> None:
        if self.messages:
            raise PatchApplyError(self.messages, self.rule or "apply.no_match")


def _git_mode(path: Path) -> str:
    return "100755" if path.stat().st_mode & stat.S_IXUSR else "100644"


def _lines(text: str | None) -> int:
    return 0 if not text else text.count("\n") + (0 if text.endswith("\n") else 1)


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _read(root: Path, path: str) -> str:
    try:
        raw = (root / path).read_bytes()
    except FileNotFoundError:
        raise PatchApplyError([f"{path}: the file does not exist"], "apply.missing_file") from None
    except IsADirectoryError:
        raise PatchApplyError([f"{path}: is a directory"], "apply.not_a_file") from None
    except OSError as error:
        raise PatchApplyError(
            [f"{path}: cannot be read: {error.strerror}"], "apply.unreadable"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchApplyError(
            [f"{path}: not UTF-8 text; it cannot be edited by hunks"], "apply.not_text"
        ) from None


def _apply_substring(
    path: str, number: int, text: str, hunk: Hunk, errors: _Errors
) -> tuple[str, HunkOutcome | None]:
    """str_replace of a partial line: the exact text must occur once."""
    count = text.count(hunk.search)
    if count == 1:
        return text.replace(hunk.search, hunk.replace, 1), HunkOutcome(
            path, number, MatchLevel.EXACT
        )
    if count == 0 and hunk.idempotent and hunk.replace and text.count(hunk.replace) == 1:
        return text, HunkOutcome(path, number, None, already_applied=True)
    if count > 1:
        errors.add(
            "apply.ambiguous",
            f"{path}: hunk {number} is ambiguous: the text occurs {count} times; include more of it",
        )
    else:
        errors.add(
            "apply.no_match",
            diagnostics.no_match(path, number, _split(text), _split(hunk.search), hunk.line_hint),
        )
    return text, None


def _apply_hunks(
    path: str, text: str, hunks: tuple[Hunk, ...], errors: _Errors
) -> tuple[str, list[HunkOutcome]]:
    crlf = "\r\n" in text
    if crlf:
        # A diff of a CRLF file carries each line's \r (git keeps it); matching is done on LF.
        text = text.replace("\r\n", "\n")
        hunks = tuple(
            hunk.model_copy(
                update={
                    "search": hunk.search.replace("\r\n", "\n"),
                    "replace": hunk.replace.replace("\r\n", "\n"),
                }
            )
            for hunk in hunks
        )
    outcomes = []
    # Hunk headers count lines of the original file; earlier hunks move later ones by this much.
    line_shift = 0
    for number, hunk in enumerate(hunks, start=1):
        if not hunk.whole_lines:
            text, outcome = _apply_substring(path, number, text, hunk, errors)
        else:
            expected = hunk.line_hint - 1 + line_shift if hunk.line_hint else None
            text, outcome = _apply_lines(path, number, text, hunk, errors, expected)
        if outcome is not None:
            outcomes.append(outcome)
            if not outcome.already_applied:
                line_shift += hunk.replace.count("\n") - hunk.search.count("\n")
    return (text.replace("\n", "\r\n") if crlf else text), outcomes


def _apply_lines(
    path: str,
    number: int,
    text: str,
    hunk: Hunk,
    errors: _Errors,
    expected_start: int | None = None,
) -> tuple[str, HunkOutcome | None]:
    lines, search, replace = _split(text), _split(hunk.search), _split(hunk.replace)
    if not search:
        if lines:
            errors.add(
                "apply.no_context",
                f"{path}: hunk {number} has no context lines to place it; include a few lines around it",
            )
            return text, None
        return hunk.replace, HunkOutcome(path, number, MatchLevel.EXACT)
    try:
        found = locate(lines, search, replace, expected_start)
        if (
            found is None
            and hunk.idempotent
            and replace
            and replace != search
            and locate(lines, replace, replace) is not None
        ):
            return text, HunkOutcome(path, number, None, already_applied=True)
    except Ambiguous as error:
        errors.add("apply.ambiguous", diagnostics.ambiguous(path, number, error))
        return text, None
    if found is None:
        errors.add(
            "apply.no_match", diagnostics.no_match(path, number, lines, search, hunk.line_hint)
        )
        return text, None
    new_lines = lines[: found.start] + found.replacement + lines[found.end :]
    # Only a hunk that reaches the end of the file decides whether the file ends with a newline.
    reaches_end = found.end >= len(lines)
    if reaches_end and found.replacement:
        ends_with_newline = hunk.replace.endswith("\n")
    else:
        ends_with_newline = text.endswith("\n")
    return "\n".join(new_lines) + ("\n" if new_lines and ends_with_newline else ""), HunkOutcome(
        path, number, found.level
    )


def _plan(root: Path, change: FileChange, errors: _Errors, result: ApplyResult) -> list[_Planned]:
    target = root / change.path
    if change.kind is ChangeKind.CREATE:
        if target.exists():
            if (
                target.is_file()
                and target.read_text(encoding="utf-8", errors="replace") == change.content
            ):
                result.hunks.append(HunkOutcome(change.path, 1, None, already_applied=True))
                return []
            errors.add(
                "apply.exists", f"{change.path}: already exists; edit it instead of creating it"
            )
            return []
        return [_Planned(change.path, change.content or "", added=_lines(change.content))]
    if change.kind is ChangeKind.DELETE:
        if not target.exists():
            errors.add("apply.missing_file", f"{change.path}: does not exist; nothing to delete")
            return []
        if not target.is_file():
            errors.add("apply.not_a_file", f"{change.path}: is not a regular file")
            return []
        original = _read(root, change.path) if target.stat().st_size else ""
        return [_Planned(change.path, None, _git_mode(target), removed=_lines(original))]
    if change.binary:
        errors.add("content.binary", f"{change.path}: binary patches cannot be applied by hunks")
        return []
    original = _read(root, change.path)
    updated, outcomes = _apply_hunks(change.path, original, change.hunks, errors)
    result.hunks.extend(outcomes)
    applied = [
        hunk
        for hunk, outcome in zip(change.hunks, outcomes, strict=False)
        if not outcome.already_applied
    ]
    added = sum(_lines(hunk.replace) for hunk in applied)
    removed = sum(_lines(hunk.search) for hunk in applied)
    mode = _git_mode(target)
    if change.move_to is not None:
        if (root / change.move_to).exists():
            errors.add(
                "apply.exists", f"{change.move_to}: already exists; cannot move {change.path} there"
            )
            return []
        return [
            _Planned(change.move_to, updated, None, added=_lines(updated)),
            _Planned(change.path, None, mode, removed=_lines(original)),
        ]
    if updated == original:
        return []
    return [_Planned(change.path, updated, mode, added=added, removed=removed)]


def _swap_in(root: Path, planned: list[_Planned]) -> None:
    """Write every planned file or, on any failure, restore every file and remove new folders."""
    backup_dir = Path(tempfile.mkdtemp(prefix=".autopack-backup-", dir=root))
    moved_aside: list[tuple[Path, Path]] = []
    created: list[Path] = []
    made_dirs: list[Path] = []
    try:
        for index, item in enumerate(planned):
            target = root / item.path
            if target.exists():
                aside = backup_dir / str(index)
                mode = target.stat().st_mode
                os.replace(target, aside)
                moved_aside.append((target, aside))
            else:
                mode = None
            if item.content is None:
                continue
            missing = [
                parent
                for parent in reversed(target.parents)
                if parent.is_relative_to(root) and not parent.exists()
            ]
            for folder in missing:
                folder.mkdir()
                made_dirs.append(folder)
            # Exclusive creation: a path that appeared since it was checked is never written through.
            with open(target, "x", encoding="utf-8", newline="") as handle:
                created.append(target)
                handle.write(item.content)
            if mode is not None:
                os.chmod(target, stat.S_IMODE(mode))
    except BaseException:
        for path in reversed(created):
            path.unlink(missing_ok=True)
        for target, aside in reversed(moved_aside):
            os.replace(aside, target)
        for folder in reversed(made_dirs):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(backup_dir, ignore_errors=True)


def apply_governed(root: Path, patch: Patch, policy: WritePolicy) -> ApplyResult:
    """Check the patch against the policy, fit every hunk, judge the resulting entries, then
    write all files or none. Every refusal is a PolicyViolation or a PatchApplyError with a rule."""
    checked = check_patch(root, patch, policy)
    result = ApplyResult()
    errors = _Errors()
    planned = [item for change in checked.changes for item in _plan(root, change, errors, result)]
    errors.raise_if_any()
    if planned:
        judge_entries([item.entry() for item in planned], policy)
    try:
        _swap_in(root, planned)
    except OSError as error:
        where = error.filename or "a file"
        reason = os.strerror(error.errno) if error.errno else str(error)
        rule = "path.too_long" if error.errno == errno.ENAMETOOLONG else "apply.write_failed"
        raise PatchApplyError(
            [f"{where}: could not be written ({reason}); every file was put back as it was"],
            rule,
        ) from None
    result.written = [item.path for item in planned if item.content is not None]
    result.deleted = [item.path for item in planned if item.content is None]
    return result
