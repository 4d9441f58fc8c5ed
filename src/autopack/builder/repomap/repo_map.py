"""Scan a tree, keep each file's tags cached by mtime, rank them for a task and render the map."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.builder.repomap.fusion import (
    GRAPH_WEIGHT,
    LEXICAL_WEIGHT,
    definitions_in_file_order,
    fuse,
)
from autopack.builder.repomap.languages import language_for
from autopack.builder.repomap.lexical import LexicalIndex, path_tokens, tokens_of
from autopack.builder.repomap.rank import rank_tags
from autopack.builder.repomap.render import fit_to_budget
from autopack.builder.repomap.tags import Tag, ctags_definitions, tree_sitter_tags

# Big files are generated or vendored more often than not, and parsing them costs most.
MAX_FILE_BYTES = 512 * 1024
# Prose and data: ctags finds "definitions" in them (headings, keys) that only add noise.
_NOT_CODE = {
    ".md",
    ".rst",
    ".txt",
    ".json",
    ".yaml",
    ".yml",
    ".toml",
    ".lock",
    ".csv",
    ".ini",
    ".cfg",
    ".svg",
    ".html",
    ".css",
}
_SKIP_DIRS = {
    ".git",
    ".autopack",
    ".autonomous_runs",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
}


@dataclass(frozen=True)
class RankedMap:
    files: tuple[str, ...]
    text: str
    tokens: int


@dataclass
class _Cached:
    mtime_ns: int
    size: int
    tags: list[Tag]
    words: list[str]  # the file's lexical document: its identifiers and prose, for BM25


def _listed_files(root: Path) -> list[str]:
    """Git's view when the tree is a repository (ignored files stay out), else a plain walk."""
    completed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if completed.returncode == 0:
        return sorted({name for name in completed.stdout.decode().split("\0") if name})
    found: list[str] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in _SKIP_DIRS)
        base = Path(directory).relative_to(root)
        found.extend((base / name).as_posix() for name in sorted(files))
    return found


class RepoMap:
    def __init__(self, root: Path, *, use_ctags: bool = True):
        self.root = root
        self.use_ctags = use_ctags
        self._cache: dict[str, _Cached] = {}
        # Rebuilt only when a file it covers changed: indexing a 2,000-file tree costs a second.
        self._lexical: tuple[tuple[tuple[str, int, int], ...], LexicalIndex] | None = None
        self.parsed_files = 0  # how many parses the cache did not save: for tests and benchmarks

    def _source_files(self) -> list[tuple[str, os.stat_result]]:
        files = []
        for path in _listed_files(self.root):
            try:
                status = (self.root / path).stat()
            except OSError:
                continue  # deleted but still in the index, or a broken symlink
            if status.st_size <= MAX_FILE_BYTES and not (self.root / path).is_symlink():
                files.append((path, status))
        return files

    def tags(self) -> dict[str, list[Tag]]:
        current: dict[str, list[Tag]] = {}
        for_ctags: list[str] = []
        listed = self._source_files()
        for path, status in listed:
            cached = self._cache.get(path)
            if cached and (cached.mtime_ns, cached.size) == (status.st_mtime_ns, status.st_size):
                current[path] = cached.tags
                continue
            if language_for(path) is None:
                if Path(path).suffix.lower() not in _NOT_CODE:
                    for_ctags.append(path)
                continue
            source = (self.root / path).read_bytes()
            tags = tree_sitter_tags(path, source) or []
            self.parsed_files += 1
            self._cache[path] = _Cached(
                status.st_mtime_ns, status.st_size, tags, _words(path, source)
            )
            current[path] = tags
        if self.use_ctags and for_ctags:
            stats = dict(listed)
            for path, tags in ctags_definitions(self.root, for_ctags).items():
                self.parsed_files += 1
                status = stats[path]
                words = _words(path, (self.root / path).read_bytes()) if tags else []
                self._cache[path] = _Cached(status.st_mtime_ns, status.st_size, tags, words)
                if tags:
                    current[path] = tags
        for gone in set(self._cache) - {path for path, _ in listed}:
            del self._cache[gone]
        return {path: tags for path, tags in current.items() if tags}

    def _lines(self, path: str) -> list[str]:
        return (self.root / path).read_text(encoding="utf-8", errors="replace").splitlines()

    def lexical_index(self, paths: Sequence[str]) -> LexicalIndex:
        """BM25 over the given files' words (as tags() last read them)."""
        key = tuple(
            (path, self._cache[path].mtime_ns, self._cache[path].size) for path in sorted(paths)
        )
        if self._lexical is None or self._lexical[0] != key:
            self._lexical = (key, LexicalIndex({path: self._cache[path].words for path in paths}))
        return self._lexical[1]

    def rank(
        self, query: str, focus_paths: Sequence[str] = (), token_budget: int = 2048
    ) -> RankedMap:
        """Files fused from the reference graph's PageRank and BM25 on the query; the map shows
        the best files' definitions first, within the budget."""
        tags = self.tags()
        ranking = rank_tags(tags, query, focus_paths)
        graph_order = [path for path, _ in ranking.files]
        lexical_order = self.lexical_index(graph_order).ranked(query)
        fused = fuse([(lexical_order, LEXICAL_WEIGHT), (graph_order, GRAPH_WEIGHT)])
        files = [path for path, _ in fused]
        definitions = definitions_in_file_order(files, ranking.definitions, tags, query)
        text, tokens = fit_to_budget(definitions, self._lines, tags, token_budget)
        return RankedMap(tuple(files), text, tokens)


def _words(path: str, source: bytes) -> list[str]:
    return path_tokens(path) + tokens_of(source.decode("utf-8", errors="replace"))
