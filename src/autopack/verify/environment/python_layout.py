"""What a Python project declares and where its code lives, read from its files without running it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = "pyproject.toml"
UV_LOCK = "uv.lock"
PYTHON_VERSION_FILE = ".python-version"
# Folders beside the package that hold no importable code of the project itself.
NOT_THE_PACKAGE = frozenset(
    {"tests", "test", "testing", "docs", "doc", "examples", "example", "scripts", "benchmarks",
     "bench", "build", "dist", "tools", "src"}
)  # fmt: skip


def read_pyproject(root: Path) -> dict[str, Any]:
    """The parsed pyproject.toml; empty when there is none or it does not parse (its build
    tools will say why when they read it)."""
    path = root / PYPROJECT
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def requirement_files(root: Path) -> list[Path]:
    """requirements.txt, requirements-dev.txt, dev-requirements.txt, requirements/*.txt."""
    found = {*root.glob("requirements*.txt"), *root.glob("*-requirements.txt")}
    if (root / "requirements").is_dir():
        found |= set((root / "requirements").glob("*.txt"))
    return sorted(path for path in found if path.is_file())


def declares_dependencies(root: Path) -> bool:
    """Whether the project says what it needs, in a form uv reads."""
    return any((root / name).is_file() for name in (UV_LOCK, PYPROJECT)) or bool(
        requirement_files(root)
    )


def dependency_groups(pyproject: dict[str, Any]) -> list[str]:
    groups = pyproject.get("dependency-groups", {})
    return sorted(groups) if isinstance(groups, dict) else []


def import_roots(root: Path) -> tuple[Path, ...]:
    """Where the project's importable code starts: src/ in a src layout, else the root."""
    source = root / "src"
    if source.is_dir() and _packages_in(source, modules=True):
        return (source,)
    return (root,)


def _packages_in(folder: Path, *, modules: bool) -> list[str]:
    """Packages in the folder, and single-module projects where that layout is unambiguous
    (src/; at the root, setup.py, noxfile.py and the like are not the project's code)."""
    names = {path.parent.name for path in folder.glob("*/__init__.py")}
    if modules:
        names |= {path.stem for path in folder.glob("*.py") if path.stem != "conftest"}
    return sorted(
        name for name in names if name.isidentifier() and name.lower() not in NOT_THE_PACKAGE
    )


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def top_level_package(root: Path) -> str | None:
    """The project's own top-level import name: [project].name when the project has code of that
    name (at the top or one folder down, wherever its build puts it), else the only package in
    its import root; None when that cannot be told."""
    name = read_pyproject(root).get("project", {}).get("name")
    if isinstance(name, str):
        candidate = _normalised(name)
        places = (pattern.format(candidate) for pattern in ("{}", "*/{}", "{}.py", "*/{}.py"))
        if any(path for pattern in places for path in root.glob(pattern)):
            return candidate
    roots = import_roots(root)
    packages = [package for r in roots for package in _packages_in(r, modules=r.name == "src")]
    return packages[0] if len(packages) == 1 else None
