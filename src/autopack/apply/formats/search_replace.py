"""Aider-style SEARCH/REPLACE blocks, each preceded by the path of the file it edits.

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

An empty SEARCH section creates the file (Aider's convention).
"""

from __future__ import annotations

import re

from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch, joined_lines
from autopack.errors import PatchFormatError

_START = re.compile(r"^<{5,9} SEARCH\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_END = re.compile(r"^>{5,9} REPLACE\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _path_before(lines: list[str], index: int) -> str | None:
    for back in range(index - 1, max(index - 4, -1), -1):
        candidate = lines[back].strip()
        if not candidate or _FENCE.match(candidate):
            continue
        return candidate.strip("`*: ").removeprefix("# ").strip() or None
    return None


def parse_search_replace(text: str) -> Patch:
    lines = text.splitlines()
    changes: dict[str, FileChange] = {}
    index = 0
    blocks = 0
    while index < len(lines):
        if not _START.match(lines[index]):
            index += 1
            continue
        start = index
        path = _path_before(lines, index)
        if path is None:
            raise PatchFormatError(
                "SEARCH block without a file path on the line before it", line=start + 1
            )
        search: list[str] = []
        replace: list[str] = []
        index += 1
        while index < len(lines) and not _DIVIDER.match(lines[index]):
            search.append(lines[index])
            index += 1
        if index >= len(lines):
            raise PatchFormatError("SEARCH block without '=======' divider", line=start + 1)
        index += 1
        while index < len(lines) and not _END.match(lines[index]):
            replace.append(lines[index])
            index += 1
        if index >= len(lines):
            raise PatchFormatError("SEARCH block without '>>>>>>> REPLACE' end", line=start + 1)
        index += 1
        blocks += 1
        hunk = Hunk(search=joined_lines(search), replace=joined_lines(replace))
        known = changes.get(path)
        if not search and known is None:
            changes[path] = FileChange(path=path, kind=ChangeKind.CREATE, content=hunk.replace)
        elif known is not None and known.kind is ChangeKind.CREATE:
            raise PatchFormatError(
                f"{path} is created and edited in the same patch; send it whole", line=start + 1
            )
        else:
            existing = known.hunks if known is not None else ()
            changes[path] = FileChange(path=path, kind=ChangeKind.EDIT, hunks=(*existing, hunk))
    if not blocks:
        raise PatchFormatError("no '<<<<<<< SEARCH' blocks found")
    return Patch(changes=tuple(changes.values()), source_format="search_replace")
