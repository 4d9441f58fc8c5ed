"""The Codex `*** Begin Patch` envelope: Add, Update (optionally Move to) and Delete File sections."""

from __future__ import annotations

from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch, joined_lines
from autopack.errors import PatchFormatError

_BEGIN, _END = "*** Begin Patch", "*** End Patch"
_ADD, _UPDATE, _DELETE, _MOVE = (
    "*** Add File: ",
    "*** Update File: ",
    "*** Delete File: ",
    "*** Move to: ",
)
_END_OF_FILE = "*** End of File"


def _hunks(body: list[str], first_line: int) -> tuple[Hunk, ...]:
    hunks: list[Hunk] = []
    search: list[str] = []
    replace: list[str] = []

    def close() -> None:
        if search or replace:
            hunks.append(Hunk(search="".join(search), replace="".join(replace)))
        search.clear()
        replace.clear()

    for offset, line in enumerate(body):
        if line.startswith("@@"):
            close()
        elif line == _END_OF_FILE:
            continue
        elif line[:1] in (" ", "-", "+") or line == "":
            marker, content = (line[:1], line[1:]) if line else (" ", "")
            if marker in (" ", "-"):
                search.append(f"{content}\n")
            if marker in (" ", "+"):
                replace.append(f"{content}\n")
        else:
            raise PatchFormatError(
                f"unexpected line in an Update section: {line[:60]!r}", line=first_line + offset
            )
    close()
    return tuple(hunks)


def parse_codex(text: str) -> Patch:
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != _BEGIN:
        raise PatchFormatError(f"a Codex patch starts with '{_BEGIN}'", line=1)
    if lines[-1].strip() != _END:
        raise PatchFormatError(f"a Codex patch ends with '{_END}'", line=len(lines))
    sections: list[tuple[str, str, int, list[str]]] = []
    for number, line in enumerate(lines[1:-1], start=2):
        for header in (_ADD, _UPDATE, _DELETE):
            if line.startswith(header):
                sections.append((header, line[len(header) :].strip(), number, []))
                break
        else:
            if not sections:
                raise PatchFormatError(
                    f"expected a '*** Add/Update/Delete File:' header, got {line[:60]!r}",
                    line=number,
                )
            sections[-1][3].append(line)
    if not sections:
        raise PatchFormatError("the patch has no file sections", line=1)
    changes = []
    for header, path, number, body in sections:
        if header == _ADD:
            if any(line and not line.startswith("+") for line in body):
                raise PatchFormatError(
                    f"every line of an added file starts with '+' ({path})", line=number
                )
            changes.append(
                FileChange(
                    path=path,
                    kind=ChangeKind.CREATE,
                    content=joined_lines([line[1:] for line in body]),
                )
            )
        elif header == _DELETE:
            changes.append(FileChange(path=path, kind=ChangeKind.DELETE))
        else:
            move_to = None
            if body and body[0].startswith(_MOVE):
                move_to, body = body[0][len(_MOVE) :].strip(), body[1:]
            hunks = _hunks(body, number + 1)
            if not hunks and move_to is None:
                raise PatchFormatError(f"Update File {path} has no changes", line=number)
            changes.append(
                FileChange(path=path, kind=ChangeKind.EDIT, hunks=hunks, move_to=move_to)
            )
    return Patch(changes=tuple(changes), source_format="codex")
