"""Which test files exercise the changed code, read from the worktree's import graph.

Chosen over pytest-testmon: testmon needs its plugin installed in the project's own environment
and a coverage-instrumented run at the base (slower than the plain baseline), while the import
graph is computed by Autopack from the worktree's source alone. It over-selects (a test importing a
module runs even if it never calls the changed function), which only costs time; and when it cannot
judge (a changed conftest.py, a dynamic import) the full profile that follows still runs every test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from autopack.verify.test_guard import is_test_file

_SKIPPED_DIRS = frozenset(
    {"node_modules", "__pycache__", "build", "dist", "venv", ".venv", "site-packages"}
)
MAX_FILES = 20_000


def python_files(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        found.append(relative.as_posix())
        if len(found) >= MAX_FILES:
            break
    return found


def _module_of(path: str) -> str:
    pure = PurePosixPath(path)
    parts = list(pure.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(path: str) -> str:
    module = _module_of(path)
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _imports(root: Path, path: str) -> set[str]:
    try:
        tree = ast.parse((root / path).read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return set()
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(path).split(".") if _package_of(path) else []
                anchor = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                named.add(base)
                named.update(f"{base}.{alias.name}" for alias in node.names)
    # Importing a.b.c runs a and a.b too.
    return {prefix for name in named for prefix in _prefixes(name)}


def _prefixes(name: str) -> Iterable[str]:
    parts = name.split(".")
    return (".".join(parts[: index + 1]) for index in range(len(parts)))


def test_files(root: Path) -> list[str]:
    return [path for path in python_files(root) if is_test_file(path)]


def affected_tests(root: Path, changed: Iterable[str]) -> list[str] | None:
    """Test files (relative paths) that import changed modules, directly or through others, and
    changed test files; None when the graph cannot judge (a changed conftest.py)."""
    changed_python = sorted(path for path in changed if path.endswith(".py"))
    if any(PurePosixPath(path).name == "conftest.py" for path in changed_python):
        return None
    files = python_files(root)
    by_module = {_module_of(path): path for path in files}
    imported_by: dict[str, set[str]] = {}
    for path in files:
        for module in _imports(root, path):
            target = by_module.get(module)
            if target is not None and target != path:
                imported_by.setdefault(target, set()).add(path)
    reached = {path for path in changed_python if (root / path).is_file()}
    frontier = list(reached)
    while frontier:
        for importer in imported_by.get(frontier.pop(), ()):
            if importer not in reached:
                reached.add(importer)
                frontier.append(importer)
    return sorted(path for path in reached if is_test_file(path))
