"""Files a task's text names outright: a path (a traceback's frames, `src/pkg/mod.py`, a bare
`fitsrec.py`), a dotted module (`sphinx.ext.viewcode`, `astropy.modeling.separable`) or a name
only they define (`PolyFit`, `cached_eval`).

Reports quote tracebacks from installed copies (`/usr/lib/python3/dist-packages/astropy/io/ascii/
ui.py`) and name modules the way imports do; neither is a word BM25 weighs above the rest, yet
either points at one file of the tree. A mention matches a file when its last path components
are the file's last ones: the more components agree, the surer the match.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

# Path-like runs: letters, digits and the characters paths and tracebacks put between them.
_PATHLIKE = re.compile(r"[\w.\-/\\]+\.\w+")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
# `pkg.mod` names pkg/mod.py or pkg/mod/__init__.py; fewer parts than two name nothing specific.
_MIN_MODULE_PARTS = 2


def mentioned_files(text: str, files: Iterable[str]) -> list[str]:
    """Files the text names, best first: most path components in agreement, then most mentions,
    then by path (the same text and tree give the same order)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in files:
        by_name[PurePosixPath(path).name].append(path)
    score: dict[str, float] = defaultdict(float)
    for mention in _PATHLIKE.findall(text):
        parts = [part for part in mention.replace("\\", "/").split("/") if part not in ("", ".")]
        for path, agreed in _suffix_matches(parts, by_name):
            score[path] += agreed
    for dotted in _DOTTED.findall(text):
        parts = dotted.split(".")
        # The longest prefix that names a file: `a.b.c.func` is a/b/c.py, not also a/b.
        for end in range(len(parts), _MIN_MODULE_PARTS - 1, -1):
            stem = parts[:end]
            found = [
                *_suffix_matches([*stem[:-1], stem[-1] + ".py"], by_name),
                *_suffix_matches([*stem, "__init__.py"], by_name),
            ]
            full = [(path, agreed) for path, agreed in found if agreed >= len(stem)]
            if full:
                for path, agreed in full:
                    score[path] += agreed
                break
    return [path for path, _ in sorted(score.items(), key=lambda item: (-item[1], item[0]))]


def _suffix_matches(parts: list[str], by_name: dict[str, list[str]]) -> Iterable[tuple[str, int]]:
    """(file, how many trailing components it shares with parts) for files named like parts[-1]."""
    if not parts:
        return
    for path in by_name.get(parts[-1], ()):
        components = path.split("/")
        agreed = 0
        for mine, theirs in zip(reversed(components), reversed(parts), strict=False):
            if mine != theirs:
                break
            agreed += 1
        yield path, agreed


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def defining_files(text: str, definitions: Mapping[str, Iterable[str]]) -> list[str]:
    """Files defining a name the text quotes exactly (`PolyFit`, `cached_eval`), best first.

    A name few files define says more than one every module has: each quoted name adds
    log(1 + files / its definers) to the files that define it.
    """
    quoted = set(_IDENTIFIER.findall(text))
    definers: dict[str, set[str]] = defaultdict(set)
    for path, names in definitions.items():
        for name in names:
            if name in quoted:
                definers[name].add(path)
    total = len(definitions)
    score: dict[str, float] = defaultdict(float)
    for paths in definers.values():
        rarity = math.log(1 + total / len(paths))
        for path in paths:
            score[path] += rarity
    return [path for path, _ in sorted(score.items(), key=lambda item: (-item[1], item[0]))]
