"""Unified diffs, read the way `git apply` reads them, with a few tolerances for LLM-written ones.

Lines end at "\\n" only, as in git: a "\\r", form feed or U+2028 inside a line is part of it, so
text inside a line can never pass for a hunk or file header, and a "\\r" before the "\\n" stays in
the line's content. File names follow git's apply.c: C-quoted names ("a/x\\ty", octal escapes
for UTF-8 bytes) are unquoted; an unquoted `diff --git a/N b/N` with spaces is split where both
halves name the same path; the `---`/`+++`, `rename from/to` and `copy from/to` lines name the
files authoritatively, and in git diffs `---`/`+++` names lose their first component (-p1).
Plain diffs (`---`/`+++` only) lose `a/` and `b/` only when both sides carry them (or /dev/null),
where git would guess -p from the slashes; a timestamp after the name is dropped as git drops it.

Renames (and any git diff whose two names differ) become an edit of the old path with `move_to`
the new one. A rename without hunks (similarity 100%) carries no content and is refused, naming
both paths, and so are copies: send a delete and a create instead.

Tolerances git lacks, kept for LLM-written diffs: hunk headers may miscount (their counts only
decide whether a `--- ` line is a removed line or the next file's header), a bare empty line in a
hunk is blank context, a `---`/`+++` pair needs no `@@` after it, and a /dev/null side in a git
diff without `new file mode`/`deleted file mode` means creation or deletion (git would read a
file named `dev/null`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch, joined_lines
from autopack.errors import PatchFormatError

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.ASCII)
DEV_NULL = "/dev/null"
# git's own ctype: isspace() is space, tab, CR and LF; a form feed or vertical tab is a name byte.
_GIT_SPACE = " \t\r\n"
# Characters that end an unquoted name in git's find_name(), with and without TERM_TAB.
_TO_TAB, _TO_EOL = "\t\r", "\r"
_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_OCTAL = re.compile(r"[0-3][0-7]{2}")
_MODE = re.compile(r"[0-7]+(?=[ \t\r]|\Z)")
# diff_timestamp_len(): "2010-07-05 19:41:17.620000023 -0500" after a tab or (damaged) spaces.
_TIMESTAMP = re.compile(
    r"(?:[0-9]{2})?[0-9]{2}-[0-9]{2}-[0-9]{2}"
    r"(?: [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)?(?: [+-](?:[0-9]{4}|[0-9]{2}:[0-9]{2}))?\Z"
)
_EPOCH = re.compile(
    r"(1969-12-31|1970-01-01) ([0-2][0-9]):([0-5][0-9]):00(?:\.0+)? ([-+])([0-2][0-9]):?([0-5][0-9])\Z"
)
_EXTENDED = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "copy from ",
    "copy to ",
    "rename old ",
    "rename new ",
    "rename from ",
    "rename to ",
    "similarity index ",
    "dissimilarity index ",
    "index ",
)


@dataclass
class _File:
    line: int
    git: bool = False
    # The name `diff --git` gives when both sides agree; git falls back on it for mode changes
    # and empty files, which have no `---`/`+++` lines.
    default: str | None = None
    old: str | None = None
    new: str | None = None
    seen_old: bool = False
    seen_new: bool = False
    binary: bool = False
    is_new: bool = False
    is_delete: bool = False
    is_rename: bool = False
    is_copy: bool = False
    mode: str | None = None
    hunks: list[tuple[int, list[str]]] = field(default_factory=list)
    counted: list[int] = field(default_factory=list)
    # Lines the current hunk's header still promises (old side, new side); LLMs miscount, so this
    # only decides whether a '--- ' line is a removed line or the next file's header.
    pending: tuple[int, int] = (0, 0)


def _marker(line: str) -> tuple[str, str]:
    # A bare empty line is blank context whose leading space an editor or model trimmed.
    return (" ", line) if line in ("", "\r") else (line[0], line[1:])


def _is_body(line: str) -> bool:
    return line in ("", "\r") or line[0] in " -+\\"


def _consume(pending: tuple[int, int], line: str) -> tuple[int, int]:
    old, new = pending
    marker = _marker(line)[0]
    if marker in (" ", "-"):
        old -= 1
    if marker in (" ", "+"):
        new -= 1
    return (max(old, 0), max(new, 0))


def _encoded(char: str) -> bytes:
    # Text decoded with surrogateescape gives its undecodable bytes back; other lone surrogates
    # cannot be in a git name, and only need to survive to the policy check.
    try:
        return char.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return char.encode("utf-8", "surrogatepass")


def _unquote(text: str) -> tuple[str, int] | None:
    """git's unquote_c_style() of the name quoted at text[0]: the name and the index past it."""
    raw = bytearray()
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return raw.decode("utf-8", "surrogateescape"), index + 1
        if char != "\\":
            raw += _encoded(char)
            index += 1
        elif text[index + 1 : index + 2] in _ESCAPES:
            raw.append(_ESCAPES[text[index + 1]])
            index += 2
        elif _OCTAL.match(text, index + 1):
            raw.append(int(text[index + 1 : index + 4], 8))
            index += 4
        else:
            return None
    return None


def _squash(name: str | None) -> str | None:
    return None if name is None else re.sub(r"//+", "/", name)


def _skip_prefix(name: str) -> str | None:
    """git's skip_tree_prefix() for -p1: the name after its first directory, if it has one."""
    slash = name.find("/")
    return None if slash <= 0 else name[slash + 1 :]


def _git_header_name(rest: str) -> str | None:
    """git's git_header_name(): the one path `diff --git a/P b/P` names on both sides, if any."""
    if rest.startswith('"'):
        quoted = _unquote(rest)
        first = _skip_prefix(quoted[0]) if quoted else None
        if quoted is None or first is None:
            return None
        second = rest[quoted[1] :].lstrip(_GIT_SPACE)
        # git compares an unquoted second name including its newline, so only a quoted one matches.
        other = _unquote(second) if second.startswith('"') else None
        return first if other is not None and _skip_prefix(other[0]) == first else None
    name = _skip_prefix(rest)
    if name is None:
        return None
    quote = name.find('"')
    if quote >= 0:
        other = _unquote(name[quote:])
        found = _skip_prefix(other[0]) if other else None
        if found is not None and len(found) < quote and name.startswith(found):
            return found if name[len(found)] in _GIT_SPACE else None
        return None
    # Both halves are as long as each other, so after a separator at `index` the second half's
    # a/ or b/ must end at len(name) - index - 1: compare only there, keeping long lines linear.
    slash = -1
    for index, char in enumerate(name):
        if char not in " \t":
            continue
        if slash <= index:
            slash = name.find("/", index + 1)
            if slash < 0:
                return None
        if slash == len(name) - index - 1 > index + 1 and name[slash + 1 :] == name[:index]:
            return name[:index]
    return None


def _find_name_common(text: str, default: str | None, strip: int, stops: str) -> str | None:
    start = 0 if strip == 0 else None
    end = len(text)
    for index, char in enumerate(text):
        if char in stops:
            end = index
            break
        if char == "/" and strip > 0:
            strip -= 1
            if strip == 0:
                start = index + 1
    if start is None or start == end:
        return _squash(default)
    name = text[start:end]
    # git prefers the shorter name when the other only adds to it ("file" vs "file.orig").
    if default is not None and len(default) < len(name) and name.startswith(default):
        return _squash(default)
    return _squash(name)


def _find_name_gnu(text: str, strip: int) -> str | None:
    quoted = _unquote(text)
    if quoted is None:
        return None
    name = quoted[0]
    for _ in range(strip):
        slash = name.find("/")
        if slash < 0:
            return None
        name = name[slash + 1 :]
    return _squash(name)


def _find_name(text: str, strip: int, stops: str) -> str | None:
    quoted = _find_name_gnu(text, strip) if text.startswith('"') else None
    return quoted if quoted is not None else _find_name_common(text, None, strip, stops)


def _find_name_traditional(text: str, default: str | None, strip: int) -> str | None:
    quoted = _find_name_gnu(text, strip) if text.startswith('"') else None
    if quoted is not None:
        return quoted
    stamp = _TIMESTAMP.search(text)
    before = text[: stamp.start()] if stamp else ""
    if before.endswith("\t"):
        return _find_name_common(before[:-1], default, strip, "")
    if before.endswith(" "):
        return _find_name_common(before.rstrip(" "), default, strip, "")
    return _find_name_common(text, default, strip, _TO_TAB)


def _is_dev_null(text: str) -> bool:
    return text.startswith(DEV_NULL) and text[len(DEV_NULL) : len(DEV_NULL) + 1] in (
        "",
        " ",
        "\t",
        "\r",
    )


def _has_epoch_timestamp(text: str) -> bool:
    """GNU diff -N marks a created or deleted side with the epoch as its timestamp."""
    stamp = _EPOCH.match(text.rsplit("\t", 1)[1]) if "\t" in text else None
    if stamp is None:
        return False
    day, hour, minute, sign, zone_hours, zone_minutes = stamp.groups()
    offset = (int(zone_hours) * 60 + int(zone_minutes)) * (-1 if sign == "-" else 1)
    return int(hour) * 60 + int(minute) - offset == (24 * 60 if day == "1969-12-31" else 0)


def _traditional(first: str, second: str, number: int) -> _File:
    """git's parse_traditional_patch(), with our -p rule instead of git's guess."""
    file = _File(line=number, seen_old=True, seen_new=True)
    if _is_dev_null(first) and _is_dev_null(second):
        raise PatchFormatError(
            "a file is both created and deleted (/dev/null on both sides)", line=number
        )
    prefixed = all(
        _is_dev_null(side) or (_find_name_traditional(side, None, 0) or "").startswith(prefix)
        for side, prefix in ((first, "a/"), (second, "b/"))
    )
    strip = 1 if prefixed else 0
    if _is_dev_null(first):
        file.is_new, file.new = True, _find_name_traditional(second, None, strip)
    elif _is_dev_null(second):
        file.is_delete, file.old = True, _find_name_traditional(first, None, strip)
    else:
        name = _find_name_traditional(second, _find_name_traditional(first, None, strip), strip)
        if _has_epoch_timestamp(first):
            file.is_new, file.new = True, name
        elif _has_epoch_timestamp(second):
            file.is_delete, file.old = True, name
        else:
            file.old = file.new = name
    if file.old is None and file.new is None:
        raise PatchFormatError("no file name in the '---'/'+++' lines", line=number)
    return file


def _git_name_line(file: _File, line: str, number: int) -> bool:
    """git's gitdiff_verify_name(): a `---`/`+++` line inside a `diff --git` header."""
    if line.startswith("--- ") and not file.seen_old:
        file.seen_old, old_side = True, True
    elif line.startswith("+++ ") and not file.seen_new:
        file.seen_new, old_side = True, False
    else:
        return False
    raw, side = line[4:], "old" if old_side else "new"
    expects_null = file.is_new if old_side else file.is_delete
    known = file.old if old_side else file.new
    if known is None and not expects_null:
        if _is_dev_null(raw) and old_side:
            file.is_new = True
        elif _is_dev_null(raw):
            file.is_delete = True
        elif old_side:
            file.old = _find_name(raw, 1, _TO_TAB)
        else:
            file.new = _find_name(raw, 1, _TO_TAB)
    elif known is not None and expects_null:
        raise PatchFormatError(f"expected /dev/null, got {known}", line=number)
    elif known is not None and _find_name(raw, 1, _TO_TAB) != known:
        raise PatchFormatError(
            f"inconsistent {side} file name (the header says {known})", line=number
        )
    elif known is None and not _is_dev_null(raw):
        raise PatchFormatError("expected /dev/null", line=number)
    return True


def _mode(text: str, number: int) -> str:
    match = _MODE.match(text)
    if match is None:
        raise PatchFormatError(f"invalid mode: {text}", line=number)
    return match.group()


def _extended_line(file: _File, line: str, number: int) -> bool:
    """git's extended header lines: modes, creation, deletion, renames, copies, similarity."""
    prefix = next((prefix for prefix in _EXTENDED if line.startswith(prefix)), None)
    if prefix is None:
        return False
    rest = line[len(prefix) :]
    match prefix:
        case "new file mode ":
            file.is_new, file.new, file.mode = True, file.default, _mode(rest, number)
        case "deleted file mode ":
            file.is_delete, file.old = True, file.default
            _mode(rest, number)
        case "new mode ":
            file.mode = _mode(rest, number)
        case "old mode ":
            _mode(rest, number)
        case "rename from " | "rename old ":
            file.is_rename, file.old = True, _find_name(rest, 0, _TO_EOL)
        case "rename to " | "rename new ":
            file.is_rename, file.new = True, _find_name(rest, 0, _TO_EOL)
        case "copy from ":
            file.is_copy, file.old = True, _find_name(rest, 0, _TO_EOL)
        case "copy to ":
            file.is_copy, file.new = True, _find_name(rest, 0, _TO_EOL)
    if file.is_new + file.is_delete + file.is_rename + file.is_copy > 1:
        raise PatchFormatError(
            "inconsistent header lines (more than one of new, deleted, rename, copy)", line=number
        )
    return True


def _is_binary_marker(line: str) -> bool:
    return line == "GIT binary patch" or (
        line.startswith(("Binary files ", "Files ")) and line.endswith(" differ")
    )


def _scan(text: str) -> list[_File]:
    # git ends a line at "\n" alone; str.splitlines() would also end one at \r, \f, \v, U+2028...
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    files: list[_File] = []
    current: _File | None = None
    index = 0
    while index < len(lines):
        line, number = lines[index], index + 1
        index += 1
        if current is not None and current.hunks and current.pending != (0, 0) and _is_body(line):
            current.hunks[-1][1].append(line)
            if not line.startswith("\\"):
                current.pending = _consume(current.pending, line)
            current.counted[-1] = len(current.hunks[-1][1])
        elif line.startswith("diff --git "):
            current = _File(line=number, git=True, default=_git_header_name(line[11:]))
            files.append(current)
        elif (
            current is not None
            and current.git
            and not current.hunks
            and _git_name_line(current, line, number)
        ):
            continue
        elif line.startswith("--- ") and index < len(lines) and lines[index].startswith("+++ "):
            current = _traditional(line[4:], lines[index][4:], number)
            files.append(current)
            index += 1
        elif current is None:
            if _HUNK.match(line):
                raise PatchFormatError("a hunk comes before any file header", line=number)
        elif not current.hunks and current.git and _extended_line(current, line, number):
            continue
        elif not current.hunks and _is_binary_marker(line):
            current.binary = True
        elif match := _HUNK.match(line):
            current.hunks.append((int(match.group(1)), []))
            current.counted.append(0)
            current.pending = (int(match.group(2) or 1), int(match.group(4) or 1))
        elif current.hunks and _is_body(line):
            current.hunks[-1][1].append(line)
    return files


def _to_hunk(start: int, body: list[str], counted: int) -> Hunk:
    # Bare blank lines past what the header promised are an LLM's spacing, not context.
    end = len(body)
    while end > counted and body[end - 1] in ("", "\r"):
        end -= 1
    body = body[:end]
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
        marker, content = _marker(line)
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


def _names(file: _File) -> tuple[str, str | None]:
    """The path, and where a rename moves it, as git settles them once the header is read."""
    old, new = file.old, file.new
    if file.is_new and file.is_delete:
        raise PatchFormatError(
            "a file is both created and deleted (/dev/null on both sides)", line=file.line
        )
    if file.git and old is None and new is None:
        old = new = file.default
    path = old if old is not None else new
    if path is None or (new is None and not file.is_delete) or (old is None and not file.is_new):
        raise PatchFormatError(
            "the diff header names no file ('diff --git a/path b/path' or '---'/'+++' lines)",
            line=file.line,
        )
    return path, new if new is not None and new != path else None


def _change(file: _File) -> FileChange:
    path, move_to = _names(file)
    if file.is_copy:
        raise PatchFormatError(
            f"copies are not supported ({path} -> {move_to}); send the copy as a new file",
            line=file.line,
        )
    if file.binary:
        return FileChange(
            path=path, kind=ChangeKind.EDIT, binary=True, mode=file.mode, move_to=move_to
        )
    if file.is_delete:
        return FileChange(path=path, kind=ChangeKind.DELETE)
    if file.is_new:
        lines = [line for _, hunk in file.hunks for line in hunk]
        content = joined_lines([line[1:] for line in lines if line.startswith("+")])
        if lines and lines[-1].startswith("\\") and content:
            content = content[:-1]
        return FileChange(path=path, kind=ChangeKind.CREATE, content=content, mode=file.mode)
    if move_to is not None and not file.hunks:
        raise PatchFormatError(
            f"a rename without changes ({path} -> {move_to}) carries no content; send a delete and a create",
            line=file.line,
        )
    if not file.hunks:
        if file.mode is not None:
            return FileChange(path=path, kind=ChangeKind.EDIT, mode=file.mode)
        raise PatchFormatError(f"no hunks for {path}", line=file.line)
    hunks = tuple(
        _to_hunk(start, body, counted)
        for (start, body), counted in zip(file.hunks, file.counted, strict=True)
    )
    return FileChange(path=path, kind=ChangeKind.EDIT, hunks=hunks, mode=file.mode, move_to=move_to)


def parse_unified(text: str) -> Patch:
    files = _scan(text)
    if not files:
        raise PatchFormatError("no file headers ('--- a/path' and '+++ b/path') found")
    return Patch(changes=tuple(_change(file) for file in files), source_format="unified")
