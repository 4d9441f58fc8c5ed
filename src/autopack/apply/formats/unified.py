"""Unified diffs, git-style (`diff --git`, modes, /dev/null) and plain (`---`/`+++` only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch, joined_lines
from autopack.errors import PatchFormatError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_HEADER = re.compile(r"^diff --git (\S+) (\S+)$")
DEV_NULL = "/dev/null"


@dataclass
class _File:
    old: str | None = None
    new: str | None = None
    line: int = 0
    binary: bool = False
    new_file: bool = False
    deleted: bool = False
    mode: str | None = None
    paths_seen: bool = False
    hunks: list[tuple[int, list[str]]] = field(default_factory=list)
    counted: list[int] = field(default_factory=list)
    # Lines the current hunk's header still promises (old side, new side); LLMs miscount, so this
    # only decides whether a '--- ' line is a removed line or the next file's header.
    pending: tuple[int, int] = (0, 0)


def _consume(pending: tuple[int, int], line: str) -> tuple[int, int]:
    old, new = pending
    marker = line[:1] or " "
    if marker in (" ", "-"):
        old -= 1
    if marker in (" ", "+"):
        new -= 1
    return (max(old, 0), max(new, 0))


def _strip_prefix(path: str, prefix: str) -> str:
    path = path.split("\t")[0].strip()
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    return path[len(prefix) :] if path.startswith(prefix) else path


def _header_path(raw: str, prefix: str, git_style: bool) -> str | None:
    stripped = raw.split("\t")[0].strip()
    if stripped == DEV_NULL:
        return None
    return _strip_prefix(stripped, prefix) if git_style else stripped


def _scan(text: str) -> list[_File]:
    files: list[_File] = []
    current: _File | None = None
    git_style = False
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        in_hunk = current is not None and current.hunks and current.pending != (0, 0)
        if in_hunk and current is not None and (line[:1] in (" ", "-", "+", "\\") or line == ""):
            current.hunks[-1][1].append(line)
            current.pending = (
                _consume(current.pending, line) if not line.startswith("\\") else current.pending
            )
            current.counted[-1] = len(current.hunks[-1][1])
        elif match := _GIT_HEADER.match(line):
            git_style = True
            current = _File(
                old=_strip_prefix(match.group(1), "a/"),
                new=_strip_prefix(match.group(2), "b/"),
                line=number,
            )
            files.append(current)
        elif line.startswith("--- ") and number < len(lines) and lines[number].startswith("+++ "):
            if current is None or current.paths_seen or current.hunks:
                current = _File(line=number)
                files.append(current)
            old_raw, new_raw = line[4:], lines[number][4:]
            both_prefixed = old_raw.startswith(("a/", DEV_NULL)) and new_raw.startswith(
                ("b/", DEV_NULL)
            )
            current.old = _header_path(old_raw, "a/", git_style or both_prefixed)
            current.new = _header_path(new_raw, "b/", git_style or both_prefixed)
            current.paths_seen = True
            current.new_file = current.new_file or current.old is None
            current.deleted = current.deleted or current.new is None
        elif (
            line.startswith("+++ ")
            and current is not None
            and current.paths_seen
            and not current.hunks
        ) or current is None:
            continue
        elif line.startswith("new file mode"):
            current.new_file, current.mode = True, line.split()[-1]
        elif line.startswith("deleted file mode"):
            current.deleted = True
        elif line.startswith("new mode"):
            current.mode = line.split()[-1]
        elif line.startswith(("rename from", "rename to", "copy from", "copy to")):
            raise PatchFormatError(
                "renames and copies need the file content; send a delete and a create", line=number
            )
        elif line.startswith(("Binary files", "GIT binary patch")):
            current.binary = True
        elif match := _HUNK.match(line):
            current.hunks.append((int(match.group(1)), []))
            current.counted.append(0)
            current.pending = (int(match.group(2) or 1), int(match.group(4) or 1))
        elif current.hunks and (line[:1] in (" ", "-", "+", "\\") or line == ""):
            current.hunks[-1][1].append(line)
    return files


def _to_hunk(start: int, body: list[str], counted: int) -> Hunk:
    # Bare blank lines past what the header promised are an LLM's spacing, not context.
    while len(body) > counted and body[-1] == "":
        body = body[:-1]
    search: list[str] = []
    replace: list[str] = []
    search_ends, replace_ends = True, True
    previous = " "
    for line in body:
        if line.startswith("\\"):
            # "\ No newline at end of file" belongs to the line before it.
            search_ends = search_ends and previous == "+"
            replace_ends = replace_ends and previous == "-"
            continue
        marker, content = (line[:1], line[1:]) if line else (" ", "")
        if marker in (" ", "-"):
            search.append(content)
        if marker in (" ", "+"):
            replace.append(content)
        previous = marker
    search_text, replace_text = joined_lines(search), joined_lines(replace)
    return Hunk(
        search=search_text if search_ends or not search_text else search_text[:-1],
        replace=replace_text if replace_ends or not replace_text else replace_text[:-1],
        line_hint=start,
    )


def parse_unified(text: str) -> Patch:
    files = _scan(text)
    if not files:
        raise PatchFormatError("no file headers ('--- a/path' and '+++ b/path') found")
    changes = []
    for file in files:
        path = file.new if file.new is not None else file.old
        if path is None:
            raise PatchFormatError(
                "a file is both created and deleted (/dev/null on both sides)", line=file.line
            )
        if file.binary:
            changes.append(FileChange(path=path, kind=ChangeKind.EDIT, binary=True, mode=file.mode))
        elif file.deleted:
            changes.append(FileChange(path=path, kind=ChangeKind.DELETE))
        elif file.new_file:
            lines = [line for _, hunk in file.hunks for line in hunk]
            content = joined_lines([line[1:] for line in lines if line.startswith("+")])
            if lines and lines[-1].startswith("\\") and content:
                content = content[:-1]
            changes.append(
                FileChange(path=path, kind=ChangeKind.CREATE, content=content, mode=file.mode)
            )
        elif not file.hunks:
            if file.mode is not None:
                changes.append(FileChange(path=path, kind=ChangeKind.EDIT, mode=file.mode))
                continue
            raise PatchFormatError(f"no hunks for {path}", line=file.line)
        else:
            hunks = tuple(
                _to_hunk(start, body, counted)
                for (start, body), counted in zip(file.hunks, file.counted, strict=True)
            )
            changes.append(FileChange(path=path, kind=ChangeKind.EDIT, hunks=hunks, mode=file.mode))
    return Patch(changes=tuple(changes), source_format="unified")
