"""Each definition as a document of its own: BM25 over functions and classes, scored up to files.

A report's words often meet in one function (`cached_eval`, `MarkEvaluator._istrue` and
"caching" in the same twenty lines) while the file around it is long and about much else; over
whole files those words are diluted by everything else the file holds. A definition's document is
its name (weighted: the name is what a report quotes), its file's path words and the lines from
it to the next definition of the file. A file scores as its best definition.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence

from autopack.builder.repomap.lexical import LexicalIndex, path_tokens, tokens_of
from autopack.builder.repomap.tags import Tag, TagKind

# A definition's name says what it is about more plainly than any one line of its body.
NAME_WEIGHT = 3
# Lines a definition's document reads at most: a long function's tail rarely adds what its head
# did not say, and it would outweigh the short ones (BM25 normalises length only so far).
MAX_LINES = 200
_SEPARATOR = "\0"


def definition_documents(path: str, lines: Sequence[str], tags: Sequence[Tag]) -> list[list[str]]:
    """One token list per definition of the file, in line order."""
    definitions = sorted({(tag.line, tag.name) for tag in tags if tag.kind is TagKind.DEFINITION})
    starts = sorted({line for line, _ in definitions})
    where = path_tokens(path)
    documents = []
    for line, name in definitions:
        after = bisect_right(starts, line)
        following = starts[after] if after < len(starts) else len(lines) + 1
        body = "\n".join(lines[line - 1 : min(following - 1, line - 1 + MAX_LINES)])
        documents.append(where + tokens_of(name) * NAME_WEIGHT + tokens_of(body))
    return documents


class DefinitionIndex:
    """BM25 over every definition of the given files; files ranked by their best definition."""

    def __init__(self, documents: Mapping[str, Sequence[Sequence[str]]]):
        keyed = {
            f"{path}{_SEPARATOR}{number}": tokens
            for path, per_file in documents.items()
            for number, tokens in enumerate(per_file)
        }
        self._index = LexicalIndex(keyed)

    def ranked(self, query: str) -> list[str]:
        best: dict[str, float] = {}
        for key, value in self._index.scores(query).items():
            path = key.rsplit(_SEPARATOR, 1)[0]
            best[path] = max(best.get(path, 0.0), value)
        return [path for path, _ in sorted(best.items(), key=lambda item: (-item[1], item[0]))]
