"""What an LLM needs to fix a hunk that did not apply: which one, and the nearest real lines."""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from difflib import SequenceMatcher
from itertools import accumulate

from autopack.apply.matching import Ambiguous

# A line or word found more often than this cannot say where a hunk belongs, and letting it vote
# would cost (its occurrences x the hunk's lines): blank lines, `}`, `return result`, `self`.
_COMMON = 32
# Each rare word is looked for across the whole file; the longest are the likeliest to be rare.
_WORDS = 32
# Scoring every window with SequenceMatcher took a minute on a 2,000-line file: only the most-voted
# starts are considered, at most _SCORED of them compared, each on at most _LINES lines (matching
# lines is quadratic when the hunk alternates changed and unchanged lines).
_CANDIDATES = 12
_SCORED = 4
_LINES = 100
# A line repeated more often in a window may extend a match but not start one (see _score).
_REPEATS = 8
# Without any shared line or rare word, a few evenly spread windows are all a hint is worth.
_SAMPLES = 32
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def nearest_lines(file_lines: list[str], search: list[str]) -> tuple[int, list[str]] | None:
    """The window of the file most like `search` (for a "did you mean"; never used to apply)."""
    if not file_lines or not search:
        return None
    width = min(len(search), len(file_lines))
    last = len(file_lines) - width
    lines = [line.strip() for line in file_lines]
    wanted = [line.strip() for line in search]
    votes = _votes(lines, wanted, last)
    starts = heapq.nlargest(_CANDIDATES, votes, key=votes.__getitem__) or sorted(
        {last * step // _SAMPLES for step in range(_SAMPLES + 1)}
    )
    head, span = wanted[:_LINES], min(width, _LINES)
    # A changed line earns at most half, so a window scores at most (span + lines it shares with
    # the hunk) / 2: windows that cannot beat the best so far are not compared.
    head_count = Counter(head)
    bounds = {
        start: (span + (Counter(lines[start : start + span]) & head_count).total()) / 2
        for start in starts
    }
    best, best_key, compared = starts[0], (-1.0, 0.0, 0), 0
    for start in sorted(starts, key=lambda start: (-votes.get(start, 0.0), -bounds[start], start)):
        if compared == _SCORED:
            break
        if bounds[start] < best_key[0]:
            continue
        compared += 1
        key = (_score(head, lines[start : start + span]), votes.get(start, 0.0), -start)
        if key > best_key:
            best, best_key = start, key
    return best, file_lines[best : best + width]


def _votes(lines: list[str], wanted: list[str], last: int) -> dict[int, float]:
    """Window starts the hunk's lines point at: each line found in the file votes for the start
    that would put it in its place; a line not found votes, more weakly, through its rare words."""
    known = set(wanted)
    positions: dict[str, list[int]] = {}
    for number, line in enumerate(lines):
        if line in known:
            positions.setdefault(line, []).append(number)
    votes: defaultdict[int, float] = defaultdict(float)
    unmatched: list[tuple[int, set[str]]] = []
    for index, line in enumerate(wanted):
        found = positions.get(line, [])
        if line and 0 < len(found) <= _COMMON:
            for number in found:
                votes[min(max(number - index, 0), last)] += 1
        elif line and not found:
            unmatched.append((index, set(_WORD.findall(line))))
    if not unmatched:
        return votes
    text = "\n".join(lines)
    line_starts = list(accumulate((len(line) + 1 for line in lines), initial=0))
    words = sorted(set().union(*(words for _, words in unmatched)), key=lambda w: (-len(w), w))
    where: dict[str, set[int]] = {}
    for word in words[:_WORDS]:
        # str.find scans at C speed, where splitting every line into words would not; matching
        # inside longer words only makes a word look more common than it is.
        hits: list[int] = []
        at = text.find(word)
        while at >= 0 and len(hits) <= _COMMON:
            hits.append(at)
            at = text.find(word, at + 1)
        if hits and len(hits) <= _COMMON:
            where[word] = {bisect_right(line_starts, at) - 1 for at in hits}
    for index, line_words in unmatched:
        rare = [word for word in line_words if word in where]
        for word in rare:
            for number in where[word]:
                votes[min(max(number - index, 0), last)] += 1 / len(rare)
    return votes


def _score(wanted: list[str], window: list[str]) -> float:
    """Lines equal after stripping count whole; a changed stretch counts at most half, by how alike
    it reads, so a window holding more of the hunk's lines wins over one of look-alike lines."""
    # A line repeated all over the window (blank, `}`, look-alike code) would otherwise be tried as
    # the start of a match at each of its places, for each of the hunk's lines.
    repeated = {line for line, count in Counter(window).items() if count > _REPEATS}
    lines = SequenceMatcher(repeated.__contains__, wanted, window, autojunk=False)
    score = 0.0
    for tag, a_from, a_to, b_from, b_to in lines.get_opcodes():
        if tag == "equal":
            score += a_to - a_from
        elif tag == "replace":
            alike = _alike(wanted[a_from:a_to], window[b_from:b_to])
            score += min(a_to - a_from, b_to - b_from) * alike / 2
    return score


def _alike(before: list[str], after: list[str]) -> float:
    """Share of words and symbols two stretches have in common: linear in their length, where
    matching their characters with SequenceMatcher is quadratic."""
    ours = Counter(_TOKEN.findall("\n".join(before)))
    theirs = Counter(_TOKEN.findall("\n".join(after)))
    total = ours.total() + theirs.total()
    return 2 * (ours & theirs).total() / total if total else 1.0


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
