"""Which files a task's words point at: BM25 over each file's path, identifiers and prose.

Issue reports name error messages, options and symbols far more often than they name files; the
reference graph cannot see those words, a bag-of-words index can. Identifiers are split into their
snake/camel parts too, so `autodoc_typehints` in a report meets `autodoc_typehints` and `typehints`
in the code. Scoring is bm25s's Lucene BM25 (numpy, no model, deterministic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Words every file and every report has: they only add noise to the scores.
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "is",
        "it",
        "be",
        "for",
        "on",
        "as",
        "with",
        "by",
        "this",
        "that",
        "not",
        "are",
        "was",
        "from",
        "at",
        "if",
        "but",
        "when",
        "which",
        "can",
        "self",
        "none",
        "true",
        "false",
        "return",
        "def",
        "class",
        "import",
    ]
)
# A path's words say what a file is about more plainly than any one line of it does.
PATH_WEIGHT = 3


def tokens_of(text: str) -> list[str]:
    """Lowercased words and their snake/camel parts, repeats kept (BM25 counts them)."""
    tokens: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        if len(lowered) < 2 or lowered in _STOP:
            continue
        tokens.append(lowered)
        parts = [part.lower() for part in _SUBWORD.findall(word)]
        if len(parts) > 1:
            tokens.extend(part for part in parts if len(part) >= 3 and part not in _STOP)
    return tokens


def path_tokens(path: str) -> list[str]:
    return tokens_of(path.replace("/", " ").replace(".", " ").replace("-", " ")) * PATH_WEIGHT


class LexicalIndex:
    """BM25 over documents given as token lists; built once per map, queried once per task."""

    def __init__(self, documents: Mapping[str, Sequence[str]]):
        import bm25s  # its numpy/scipy import costs half a second: only maps that rank pay it

        self.paths = sorted(documents)
        self._retriever = bm25s.BM25()
        # A placeholder token gives an empty file a row of its own, so rows stay aligned with paths.
        self._retriever.index(
            [list(documents[path]) or ["\0"] for path in self.paths], show_progress=False
        )

    def scores(self, query: str) -> dict[str, float]:
        """Each file's BM25 score for the query; files sharing no word with it are left out."""
        if not self.paths:
            return {}
        words = [word for word in tokens_of(query) if word in self._retriever.vocab_dict]
        if not words:
            return {}
        values = self._retriever.get_scores(words)
        return {path: float(value) for path, value in zip(self.paths, values, strict=True) if value}

    def ranked(self, query: str) -> list[str]:
        """Files best first; ties broken by path so the same tree and query give the same order."""
        return [path for path, _ in sorted(self.scores(query).items(), key=lambda i: (-i[1], i[0]))]
