"""The map a model reads: the best-ranked definitions, file by file, fitted to a token budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from autopack.builder.repomap.tags import Tag, TagKind
from autopack.llm.tokens import count_tokens

_MAX_LINE = 120


def _render(
    chosen: Sequence[tuple[str, str]],
    lines_of: Callable[[str], list[str]],
    tags_by_file: Mapping[str, Sequence[Tag]],
) -> str:
    by_file: dict[str, set[str]] = {}
    for path, name in chosen:
        by_file.setdefault(path, set()).add(name)
    out: list[str] = []
    for path, names in by_file.items():
        lines = lines_of(path)
        shown = sorted(
            {
                tag.line
                for tag in tags_by_file.get(path, ())
                if tag.kind is TagKind.DEFINITION and tag.name in names
            }
        )
        out.append(f"{path}:")
        for number in shown:
            text = lines[number - 1].rstrip() if number <= len(lines) else ""
            out.append(f"{number:>5}│{text[:_MAX_LINE]}")
    return "\n".join(out) + ("\n" if out else "")


def fit_to_budget(
    definitions: Sequence[tuple[str, str, float]],
    lines_of: Callable[[str], list[str]],
    tags_by_file: Mapping[str, Sequence[Tag]],
    token_budget: int,
) -> tuple[str, int]:
    """The longest prefix of the ranked definitions whose rendering fits, by bisection."""
    chosen = [(path, name) for path, name, _ in definitions]
    best_text, best_tokens = "", 0
    low, high = 1, len(chosen)
    while low <= high:
        middle = (low + high) // 2
        text = _render(chosen[:middle], lines_of, tags_by_file)
        tokens = count_tokens(text)
        if tokens <= token_budget:
            best_text, best_tokens = text, tokens
            low = middle + 1
        else:
            high = middle - 1
    return best_text, best_tokens
