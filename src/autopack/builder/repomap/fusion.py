"""One file order from two signals, and the order the map shows definitions in.

Reciprocal rank fusion (Cormack et al. 2009) adds 1/(k + rank) over the rankings: it needs no
calibration between BM25 scores and PageRank probabilities, and a file high in either list rises.
Tuned on bench/localize.py's issue cases (docs/builders.md, Benchmark): k in {5, 10, 30, 60},
the lexical weight in {1, 1.5, 2, 3} (the graph's at 1), 2, 3 or 5 head definitions. BM25 carries
most of the signal on issue reports (the graph alone finds the fixed file in its top 5 for a
third of them, BM25 for 87%), so it weighs twice the graph (three times scored the same at
rank 5 and one case better at rank 1, but let a file that merely shares a word outrank the one
that defines what the task names, tests/builder/test_repomap.py); the graph still orders files
BM25 scores alike and brings in the task's scope when the words match nothing. A small k lets
first places count; two definitions a file let a 1,024-token map show some twenty files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from autopack.builder.repomap.rank import words_of
from autopack.builder.repomap.tags import Tag, TagKind

RRF_K = 10
LEXICAL_WEIGHT = 2.0
GRAPH_WEIGHT = 1.0
# Definitions a file shows before the next file gets its turn: enough to say what the file is,
# few enough that a 1,024-token map still shows a dozen files or more.
HEAD_DEFINITIONS = 2
# Files that get their head definitions up front: more than any budget up to 4,096 tokens can
# show (about 80 files at two lines each), few enough that ordering them costs nothing.
HEAD_FILES = 150


def fuse(
    rankings: Sequence[tuple[Sequence[str], float]], k: int = RRF_K
) -> list[tuple[str, float]]:
    """Files by summed weight/(k + rank) over (ranking, weight) pairs, best first, ties by path."""
    score: dict[str, float] = {}
    for ranking, weight in rankings:
        for position, path in enumerate(ranking, start=1):
            score[path] = score.get(path, 0.0) + weight / (k + position)
    return sorted(score.items(), key=lambda item: (-item[1], item[0]))


def definitions_in_file_order(
    file_order: Sequence[str],
    graph_definitions: Sequence[tuple[str, str, float]],
    tags_by_file: Mapping[str, Sequence[Tag]],
    query: str,
    head: int = HEAD_DEFINITIONS,
) -> list[tuple[str, str, float]]:
    """Each file's best few definitions, files in the fused order; then the rest in graph order.

    Within a file, definitions the task names come first, then those the graph ranks high, then
    the rest by line, so a file the graph never reached still shows what it defines.
    """
    query_words = words_of(query)
    graph_rank: dict[tuple[str, str], float] = {(p, n): s for p, n, s in graph_definitions}
    ordered: list[tuple[str, str, float]] = []
    taken: set[tuple[str, str]] = set()
    for path in file_order[:HEAD_FILES]:
        names: dict[str, int] = {}
        for tag in tags_by_file.get(path, ()):
            if tag.kind is TagKind.DEFINITION:
                names.setdefault(tag.name, tag.line)
        best = sorted(
            names,
            key=lambda name: (
                -len(words_of(name) & query_words),
                -graph_rank.get((path, name), 0.0),
                names[name],
            ),
        )
        for name in best[:head]:
            ordered.append((path, name, graph_rank.get((path, name), 0.0)))
            taken.add((path, name))
    ordered.extend(item for item in graph_definitions if (item[0], item[1]) not in taken)
    return ordered
