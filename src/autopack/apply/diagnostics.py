"""What an LLM needs to fix a hunk that did not apply: which one, and the nearest real lines."""

from __future__ import annotations

from difflib import SequenceMatcher

from autopack.apply.matching import Ambiguous


def nearest_lines(file_lines: list[str], search: list[str]) -> tuple[int, list[str]] | None:
    """The window of the file most like `search` (for a "did you mean"; never used to apply)."""
    if not file_lines or not search:
        return None
    width = min(len(search), len(file_lines))
    target = "\n".join(line.strip() for line in search)
    best_start, best_ratio = 0, -1.0
    for start in range(len(file_lines) - width + 1):
        window = "\n".join(line.strip() for line in file_lines[start : start + width])
        ratio = SequenceMatcher(None, target, window, autojunk=False).ratio()
        if ratio > best_ratio:
            best_start, best_ratio = start, ratio
    return best_start, file_lines[best_start : best_start + width]


def no_match(
    path: str, number: int, file_lines: list[str], search: list[str], line_hint: int | None
) -> str:
    where = f" (the patch said near line {line_hint})" if line_hint else ""
    message = f"{path}: hunk {number}{where} does not match the file"
    near = nearest_lines(file_lines, search)
    if near is not None:
        start, lines = near
        shown = "\n".join(
            f"    {start + 1 + offset}: {line}" for offset, line in enumerate(lines[:12])
        )
        message += f"; did you mean lines {start + 1}-{start + len(lines)}:\n{shown}"
    return message


def ambiguous(path: str, number: int, error: Ambiguous) -> str:
    places = ", ".join(str(start + 1) for start in error.starts[:10])
    return (
        f"{path}: hunk {number} is ambiguous: it matches {len(error.starts)} places "
        f"(starting at lines {places}, compared {error.level.value}); add surrounding lines to pick one"
    )
