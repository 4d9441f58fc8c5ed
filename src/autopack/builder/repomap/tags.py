"""Definitions and references in source files: tree-sitter where we have a grammar, ctags elsewhere."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tree_sitter import Parser, QueryCursor

from autopack.builder.repomap.languages import compiled, language_for


class TagKind(StrEnum):
    DEFINITION = "def"
    REFERENCE = "ref"


@dataclass(frozen=True)
class Tag:
    path: str
    name: str
    kind: TagKind
    line: int  # 1-based
    category: str  # function, class, method, call, import ...


def tree_sitter_tags(path: str, source: bytes) -> list[Tag] | None:
    """None when no grammar knows the file's language (the caller may ask ctags)."""
    spec = language_for(path)
    if spec is None:
        return None
    language, queries = compiled(spec.name)
    tree = Parser(language).parse(source)
    seen: set[tuple[str, TagKind, int]] = set()
    tags: list[Tag] = []
    for query in queries:
        for _pattern, captures in QueryCursor(query).matches(tree.root_node):
            role = next(
                (name for name in captures if name.startswith(("definition.", "reference."))),
                None,
            )
            if role is None:
                continue
            kind = TagKind.DEFINITION if role.startswith("definition.") else TagKind.REFERENCE
            for node in captures.get("name", []):
                if node.text is None:
                    continue
                name = node.text.decode("utf-8", errors="replace")
                line = node.start_point[0] + 1
                if (name, kind, line) in seen:
                    continue
                seen.add((name, kind, line))
                tags.append(Tag(path, name, kind, line, role.split(".", 1)[1]))
    return tags


def ctags_available() -> bool:
    return shutil.which("ctags") is not None


def ctags_definitions(root: Path, paths: Sequence[str]) -> dict[str, list[Tag]]:
    """Universal Ctags for languages without a grammar here: definitions only, no references."""
    if not paths or not ctags_available():
        return {}
    completed = subprocess.run(
        ["ctags", "--output-format=json", "--fields=+n", "-f", "-", "-L", "-"],
        cwd=root,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    found: dict[str, list[Tag]] = {path: [] for path in paths}
    for line in completed.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        path = entry.get("path")
        if entry.get("_type") != "tag" or path not in found:
            continue
        found[path].append(
            Tag(
                path,
                entry["name"],
                TagKind.DEFINITION,
                int(entry.get("line", 1)),
                entry.get("kind", "tag"),
            )
        )
    return found
