"""One patch model for every format agents emit: per file, create, delete, or edit by hunks.

A hunk is a search text and its replacement. Unified diffs, Codex envelopes, Aider blocks and
direct str_replace edits all reduce to this, so one matching engine and one policy serve them all.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


def joined_lines(lines: list[str]) -> str:
    """Lines without their newlines, as file text where every line ends in one."""
    return "".join(f"{line}\n" for line in lines)


class ChangeKind(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    EDIT = "edit"


class Hunk(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    search: str
    replace: str
    # Where the source format said the hunk starts (1-based): settles only otherwise ambiguous matches.
    line_hint: int | None = None
    # False for str_replace of part of a line: then the search text must occur exactly once.
    whole_lines: bool = True
    # A patch re-sent after it landed counts as applied; a direct str_replace never does, since
    # its new text may simply already be in the file for another reason.
    idempotent: bool = True


class FileChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    kind: ChangeKind
    content: str | None = None
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False
    # A Codex `*** Move to:` target: the edited file is written there and the old path removed.
    move_to: str | None = None
    # Git's new mode for the file (e.g. 120000 for a symlink), when the format carried one.
    mode: str | None = None


class Patch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    changes: tuple[FileChange, ...] = Field(default=())
    source_format: str

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(change.path for change in self.changes)
