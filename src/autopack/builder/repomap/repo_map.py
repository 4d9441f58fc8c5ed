"""Scan a tree, keep each file's tags cached by mtime, rank them for a task and render the map."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.builder.repomap.chunks import DefinitionIndex, definition_documents
from autopack.builder.repomap.fusion import (
    DEFINER_WEIGHT,
    DEFINITION_WEIGHT,
    GRAPH_WEIGHT,
    LEXICAL_WEIGHT,
    MENTION_WEIGHT,
    code_before_tests,
    definitions_in_file_order,
    fuse,
)
from autopack.builder.repomap.languages import language_for
from autopack.builder.repomap.lexical import LexicalIndex, path_tokens, tokens_of
from autopack.builder.repomap.mentions import defining_files, mentioned_files
from autopack.builder.repomap.rank import rank_tags
from autopack.builder.repomap.render import fit_to_budget
from autopack.builder.repomap.tags import Tag, TagKind, ctags_definitions, tree_sitter_tags

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
    chunks: list[list[str]]  # one lexical document per definition, for BM25 over definitions


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
        self._lexical: (
            tuple[tuple[tuple[str, int, int], ...], LexicalIndex, DefinitionIndex] | None
        ) = None
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
                status.st_mtime_ns, status.st_size, tags, *_documents(path, source, tags)
            )
            current[path] = tags
        if self.use_ctags and for_ctags:
            stats = dict(listed)
            for path, tags in ctags_definitions(self.root, for_ctags).items():
                self.parsed_files += 1
                status = stats[path]
                documents = (
                    _documents(path, (self.root / path).read_bytes(), tags) if tags else ([], [])
                )
                self._cache[path] = _Cached(status.st_mtime_ns, status.st_size, tags, *documents)
                if tags:
                    current[path] = tags
        for gone in set(self._cache) - {path for path, _ in listed}:
            del self._cache[gone]
        return {path: tags for path, tags in current.items() if tags}

    def _lines(self, path: str) -> list[str]:
        return (self.root / path).read_text(encoding="utf-8", errors="replace").splitlines()

    def lexical_index(self, paths: Sequence[str]) -> LexicalIndex:
        """BM25 over the given files' words (as tags() last read them)."""
        return self._indexes(paths)[0]

    def definition_index(self, paths: Sequence[str]) -> DefinitionIndex:
        """BM25 over the given files' definitions, each a document (as tags() last read them)."""
        return self._indexes(paths)[1]

    def _indexes(self, paths: Sequence[str]) -> tuple[LexicalIndex, DefinitionIndex]:
        key = tuple(
            (path, self._cache[path].mtime_ns, self._cache[path].size) for path in sorted(paths)
        )
        if self._lexical is None or self._lexical[0] != key:
            files = LexicalIndex({path: self._cache[path].words for path in paths})
            definitions = DefinitionIndex({path: self._cache[path].chunks for path in paths})
            self._lexical = (key, files, definitions)
        return self._lexical[1], self._lexical[2]

    def rank(
        self, query: str, focus_paths: Sequence[str] = (), token_budget: int = 2048
    ) -> RankedMap:
        """Files fused from the reference graph's PageRank, BM25 over files and over definitions,
        and the files the query names; the map shows the best files' definitions first, within
        the budget."""
        tags = self.tags()
        ranking = rank_tags(tags, query, focus_paths)
        graph_order = [path for path, _ in ranking.files]
        defined = {
            path: {tag.name for tag in file_tags if tag.kind is TagKind.DEFINITION}
            for path, file_tags in tags.items()
        }
        fused = fuse(
            [
                (code_before_tests(self.lexical_index(graph_order).ranked(query)), LEXICAL_WEIGHT),
                (
                    code_before_tests(self.definition_index(graph_order).ranked(query)),
                    DEFINITION_WEIGHT,
                ),
                (mentioned_files(query, graph_order), MENTION_WEIGHT),
                (code_before_tests(defining_files(query, defined)), DEFINER_WEIGHT),
                (graph_order, GRAPH_WEIGHT),
            ]
        )
        files = [path for path, _ in fused]
        definitions = definitions_in_file_order(files, ranking.definitions, tags, query)
        text, tokens = fit_to_budget(definitions, self._lines, tags, token_budget)
        return RankedMap(tuple(files), text, tokens)


def _documents(path: str, source: bytes, tags: Sequence[Tag]) -> tuple[list[str], list[list[str]]]:
    """The file's lexical document and one per definition."""
    text = source.decode("utf-8", errors="replace")
    return path_tokens(path) + tokens_of(text), definition_documents(path, text.splitlines(), tags)
