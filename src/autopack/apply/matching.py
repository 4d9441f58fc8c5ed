"""Find where a hunk belongs: a fixed cascade of ever looser comparisons, and never a fuzzy guess.

Levels, in order: exact; ignoring trailing whitespace; ignoring leading whitespace (the file's
indentation is kept, the replacement shifted by the same amount); Unicode-normalised punctuation
and spaces; `...` elision lines that stand for unchanged file lines. A search that fits in more
than one place is ambiguous and refused with the candidate lines, unless the patch's own line
numbers (a unified diff's hunk header) name exactly one of those places.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum


class MatchLevel(StrEnum):
    EXACT = "exact"
    TRAILING_WHITESPACE = "trailing_whitespace"
    LEADING_WHITESPACE = "leading_whitespace"
    UNICODE = "unicode"
    ELISION = "elision"


class Ambiguous(Exception):
    def __init__(self, level: MatchLevel, starts: list[int]):
        self.level = level
        self.starts = starts
        super().__init__(f"matches {len(starts)} places")


@dataclass(frozen=True)
class Located:
    """The file lines [start, end) to replace, and the replacement adjusted to the file."""

    start: int
    end: int
    replacement: list[str]
    level: MatchLevel


_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "",
    }
)  # fmt: skip


def _unicode_key(line: str) -> str:
    text = unicodedata.normalize("NFKC", line).translate(_PUNCTUATION)
    return " ".join(text.split())


_KEYS: list[tuple[MatchLevel, Callable[[str], str]]] = [
    (MatchLevel.EXACT, lambda line: line),
    (MatchLevel.TRAILING_WHITESPACE, str.rstrip),
    (MatchLevel.LEADING_WHITESPACE, str.strip),
    (MatchLevel.UNICODE, _unicode_key),
]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _find(
    haystack: list[str], needle: list[str], key: Callable[[str], str], start: int = 0
) -> list[int]:
    keyed_needle = [key(line) for line in needle]
    keyed = [key(line) for line in haystack]
    width = len(needle)
    return [
        i for i in range(start, len(haystack) - width + 1) if keyed[i : i + width] == keyed_needle
    ]


def _reindent(file_lines: list[str], search: list[str], replace: list[str]) -> list[str] | None:
    """Shift `replace` by the indentation the file has over `search`; None when the shift is not uniform."""
    pairs = [(f, s) for f, s in zip(file_lines, search, strict=True) if s.strip()]
    deltas = {len(_indent(f)) - len(_indent(s)) for f, s in pairs}
    if not deltas or deltas == {0}:
        return replace
    if len(deltas) != 1:
        return None
    delta = deltas.pop()
    unit = next((char for f, _ in pairs for char in _indent(f)), " ")
    shifted = []
    for line in replace:
        if not line.strip():
            shifted.append(line)
        elif delta > 0:
            shifted.append(unit * delta + line)
        elif len(_indent(line)) >= -delta:
            shifted.append(line[-delta:])
        else:
            return None
    return shifted


def _keep_file_context(
    window: list[str], search: list[str], replace: list[str], shifted: list[str]
) -> list[str]:
    """Lines the hunk leaves unchanged keep the file's exact text, not the patch's loose copy.

    A loose match means the patch's copy of those lines differs from the file (spaces, quotes);
    writing the patch's copy back would change lines the hunk never meant to touch.
    """
    kept = list(shifted)
    covered: set[int] = set()
    for block in SequenceMatcher(None, search, replace, autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            kept[block.b + offset] = window[block.a + offset]
            covered.add(block.b + offset)
    # The matcher is greedy: a line the hunk moved, or one beside a long block that crosses it,
    # is left unpaired although the patch copied it verbatim from the file. Such a line is still
    # the file's line, and keeps the file's text.
    copied = {line: index for index, line in reversed(list(enumerate(search)))}
    for index, line in enumerate(replace):
        if index not in covered and line in copied:
            kept[index] = window[copied[line]]
    return kept


def is_elision(line: str) -> bool:
    return line.strip() in ("...", "# ...", "// ...", "/* ... */", "<!-- ... -->")


def _elided(file_lines: list[str], search: list[str], replace: list[str]) -> Located | None:
    def split(lines: list[str]) -> list[list[str]]:
        parts: list[list[str]] = [[]]
        for line in lines:
            if is_elision(line):
                parts.append([])
            else:
                parts[-1].append(line)
        return parts

    search_parts, replace_parts = split(search), split(replace)
    if len(search_parts) < 2 or len(search_parts) != len(replace_parts) or not search_parts[0]:
        return None
    first = _find(file_lines, search_parts[0], str.rstrip)
    if len(first) > 1:
        raise Ambiguous(MatchLevel.ELISION, first)
    if not first:
        return None
    cursor = first[0] + len(search_parts[0])
    out = list(replace_parts[0])
    for search_part, replace_part in zip(search_parts[1:], replace_parts[1:], strict=True):
        found = _find(file_lines, search_part, str.rstrip, cursor) if search_part else [cursor]
        if not found:
            return None
        out += file_lines[cursor : found[0]] + replace_part
        cursor = found[0] + len(search_part)
    return Located(first[0], cursor, out, MatchLevel.ELISION)


def locate(
    file_lines: list[str], search: list[str], replace: list[str], expected_start: int | None = None
) -> Located | None:
    """Where `search` sits in the file, by the first level that finds exactly one place."""
    for level, key in _KEYS:
        starts = _find(file_lines, search, key)
        if len(starts) > 1:
            if expected_start not in starts:
                raise Ambiguous(level, starts)
            starts = [expected_start]
        if starts:
            start = starts[0]
            window = file_lines[start : start + len(search)]
            replacement = replace
            if level is not MatchLevel.EXACT:
                shifted = _reindent(window, search, replace)
                if shifted is None:
                    continue
                replacement = _keep_file_context(window, search, replace, shifted)
            return Located(start, start + len(search), replacement, level)
    if any(is_elision(line) for line in search):
        return _elided(file_lines, search, replace)
    return None
