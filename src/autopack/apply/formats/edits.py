"""Direct file edits as tool calls send them: str_replace, create and delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch
from autopack.errors import PatchFormatError


class _Edit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str


class StrReplace(_Edit):
    op: Literal["str_replace"] = "str_replace"
    old: str = Field(min_length=1)
    new: str


class Create(_Edit):
    op: Literal["create"] = "create"
    content: str


class Delete(_Edit):
    op: Literal["delete"] = "delete"


Edit = Annotated[StrReplace | Create | Delete, Field(discriminator="op")]
_EDITS: TypeAdapter[list[Edit]] = TypeAdapter(list[Edit])


def parse_edits(raw: Sequence[object] | str) -> Patch:
    """Edits as a list of {"op": ..., "path": ...} objects, or their JSON text."""
    try:
        edits = (
            _EDITS.validate_json(raw) if isinstance(raw, str) else _EDITS.validate_python(list(raw))
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PatchFormatError(f"edit {where}: {first['msg']}") from None
    if not edits:
        raise PatchFormatError("no edits")
    changes: dict[str, FileChange] = {}
    for edit in edits:
        known = changes.get(edit.path)
        if isinstance(edit, StrReplace):
            if known is not None and known.kind is not ChangeKind.EDIT:
                raise PatchFormatError(
                    f"{edit.path}: str_replace after {known.kind} of the same file"
                )
            hunk = Hunk(
                search=edit.old,
                replace=edit.new,
                whole_lines=edit.old.endswith("\n"),
                idempotent=False,
            )
            changes[edit.path] = FileChange(
                path=edit.path, kind=ChangeKind.EDIT, hunks=(*(known.hunks if known else ()), hunk)
            )
        elif known is not None:
            raise PatchFormatError(f"{edit.path}: {edit.op} after another edit of the same file")
        elif isinstance(edit, Create):
            changes[edit.path] = FileChange(
                path=edit.path, kind=ChangeKind.CREATE, content=edit.content
            )
        else:
            changes[edit.path] = FileChange(path=edit.path, kind=ChangeKind.DELETE)
    return Patch(changes=tuple(changes.values()), source_format="edits")
