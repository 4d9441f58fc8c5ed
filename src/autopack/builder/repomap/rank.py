"""Which files and definitions matter for a task: personalised PageRank over the reference graph.

A file that uses an identifier another file defines points at it; the walk restarts at the files
the task is about (its scope, files it names, files defining identifiers it names), so ranks flow
from there along real dependencies. The edge weights follow what Aider found to work: identifiers
the task names and long, specific names weigh more; private names and names defined all over the
place weigh less.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from autopack.builder.repomap.tags import Tag, TagKind

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words_of(text: str) -> set[str]:
    """Identifier-like words of a text, and their snake/camel parts, lowercased."""
    found: set[str] = set()
    for word in _WORD.findall(text):
        found.add(word.lower())
        found.update(part.lower() for part in _SUBWORD.findall(word) if len(part) >= 3)
    return found


def _subwords(name: str) -> set[str]:
    return {part.lower() for part in _SUBWORD.findall(name) if len(part) >= 3}


def _specific(name: str) -> bool:
    """Long names with a case or underscore boundary rarely collide by accident."""
    return len(name) >= 8 and ("_" in name.strip("_") or any(c.isupper() for c in name[1:]))


@dataclass(frozen=True)
class Ranking:
    files: tuple[tuple[str, float], ...]
    definitions: tuple[tuple[str, str, float], ...]  # (path, name, rank), best first


def _pagerank(
    nodes: Sequence[str],
    edges: Mapping[str, Mapping[str, float]],
    restart: Mapping[str, float],
    damping: float = 0.85,
    iterations: int = 60,
) -> dict[str, float]:
    total = sum(restart.values())
    start = {node: restart.get(node, 0.0) / total for node in nodes} if total else None
    uniform = 1.0 / len(nodes)
    teleport = start or dict.fromkeys(nodes, uniform)
    rank = dict(teleport)
    out_weight = {node: sum(edges.get(node, {}).values()) for node in nodes}
    for _ in range(iterations):
        following = {node: (1 - damping) * teleport[node] for node in nodes}
        dangling = 0.0
        for node in nodes:
            weight = out_weight[node]
            if weight == 0:
                dangling += rank[node]
                continue
            share = damping * rank[node] / weight
            for target, edge in edges[node].items():
                following[target] += share * edge
        # Files that reference nothing hand their rank back to where the walk restarts.
        for node in nodes:
            following[node] += damping * dangling * teleport[node]
        delta = sum(abs(following[node] - rank[node]) for node in nodes)
        rank = following
        if delta < 1e-9:
            break
    return rank


def rank_tags(
    tags_by_file: Mapping[str, Sequence[Tag]], query: str, focus_paths: Iterable[str] = ()
) -> Ranking:
    nodes = sorted(tags_by_file)
    if not nodes:
        return Ranking((), ())
    query_words = words_of(query)
    focus = set(focus_paths)
    defined: dict[str, set[str]] = defaultdict(set)
    referenced: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path, tags in tags_by_file.items():
        for tag in tags:
            if tag.kind is TagKind.DEFINITION:
                defined[tag.name].add(path)
            else:
                referenced[tag.name][path] += 1

    def weight_of(name: str) -> float:
        weight = 1.0
        if name.lower() in query_words:
            weight *= 10
        elif (parts := _subwords(name)) and parts & query_words:
            weight *= 1 + 4 * len(parts & query_words) / len(parts)
        if _specific(name):
            weight *= 10
        if name.startswith("_"):
            weight *= 0.1
        if len(defined[name]) > 5:
            weight *= 0.1
        return weight

    edges: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    edge_names: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, definers in defined.items():
        users = referenced.get(name)
        if not users:
            continue
        weight = weight_of(name)
        for user, count in users.items():
            for definer in definers:
                value = weight * math.sqrt(count)
                edges[user][definer] += value
                edge_names[(user, definer)][name] += value

    restart: dict[str, float] = {}
    for path in nodes:
        score = 0.0
        if path in focus or any(path.startswith(prefix.rstrip("/") + "/") for prefix in focus):
            score += 10
        path_words = words_of(path.replace("/", " ").replace(".", " "))
        score += 2 * len(path_words & query_words)
        for tag in tags_by_file[path]:
            if tag.kind is not TagKind.DEFINITION:
                continue
            if tag.name.lower() in query_words:
                score += 3 if _specific(tag.name) else 1
            elif (parts := _subwords(tag.name)) and (shared := parts & query_words):
                score += len(shared) / len(parts)
        if score:
            restart[path] = score

    file_rank = _pagerank(nodes, edges, restart)
    definition_rank: dict[tuple[str, str], float] = defaultdict(float)
    for (user, definer), names in edge_names.items():
        out = sum(edges[user].values())
        for name, value in names.items():
            definition_rank[(definer, name)] += file_rank[user] * value / out
    # Definitions nobody references still show in files the task restarts at.
    for path in restart:
        for tag in tags_by_file[path]:
            if tag.kind is TagKind.DEFINITION:
                definition_rank[(path, tag.name)] += file_rank[path] * 1e-3
    files = sorted(file_rank.items(), key=lambda item: (-item[1], item[0]))
    definitions = sorted(
        ((path, name, score) for (path, name), score in definition_rank.items()),
        key=lambda item: (-item[2], item[0], item[1]),
    )
    return Ranking(tuple(files), tuple(definitions))
