"""One file order from several signals, and the order the map shows definitions in.

Reciprocal rank fusion (Cormack et al. 2009) adds weight/(k + rank) over the rankings: it needs
no calibration between BM25 scores, mention counts and PageRank probabilities, and a file high in
any list rises. On bench/localize.py's issue cases the words carry most of the signal (the graph
alone finds the fixed file in its top five for a fifth of the reports, BM25 for four fifths), so
BM25 over files weighs twice the graph; the graph still orders files the words score alike and
brings in the task's scope when the words match nothing. A small k lets first places count; two
definitions a file let a 1,024-token map show some twenty files (docs/builders.md, Benchmark).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from autopack.builder.repomap.rank import words_of
from autopack.builder.repomap.tags import Tag, TagKind

RRF_K = 10
LEXICAL_WEIGHT = 2.0
GRAPH_WEIGHT = 1.0
# Picked on bench/localize.py's 37 issue cases from a small grid (definitions 0-2, mentions 0-4,
# definers 0-1, graph 0.5-1; docs/builders.md, Benchmark, gives the leave-one-project-out
# figures): a definition's words count half what its whole file's do (one more view of the same
# words), a file the task names by path or module as much as BM25's, the files defining a name it
# quotes half; the graph keeps its weight.
DEFINITION_WEIGHT = 1.0
MENTION_WEIGHT = 2.0
DEFINER_WEIGHT = 1.0
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec"})
_TEST_SUFFIXES = ("_test.py", "_test.go", ".test.ts", ".test.js", ".spec.ts", ".spec.js")
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


def is_test_file(path: str) -> bool:
    pure = PurePosixPath(path)
    name = pure.name.lower()
    in_test_dir = bool({part.lower() for part in pure.parts[:-1]} & _TEST_DIRS)
    return in_test_dir or name.startswith(("test_", "conftest")) or name.endswith(_TEST_SUFFIXES)


def code_before_tests(ranking: Sequence[str]) -> list[str]:
    """Test files after the rest, each part in its order. A report's words (its error text, the
    names in its example) recur in the tests that pin the behaviour down, often more densely than
    in the code to change; the graph still brings a test up when the task's scope is there."""
    return [path for path in ranking if not is_test_file(path)] + [
        path for path in ranking if is_test_file(path)
    ]


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
