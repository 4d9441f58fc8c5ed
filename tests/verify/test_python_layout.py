"""Which package is the project's own, and where imports of it start, read from its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.verify.environment.python_layout import (
    declares_dependencies,
    import_roots,
    top_level_package,
)


def _tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('[project]\nname = "My.Tool-Kit"\n' if name == "pyproject.toml" else "")
    return root


@pytest.mark.parametrize(
    ("files", "package", "root"),
    [
        # [project].name, normalised, found in src/
        (("pyproject.toml", "src/my_tool_kit/__init__.py", "src/helper.py"), "my_tool_kit", "src"),
        # a distribution name unlike the import name: the only package in the import root
        (("src/sklearnish/__init__.py", "tests/__init__.py"), "sklearnish", "src"),
        # a flat layout: tests, docs and setup.py/noxfile.py are not the project's code
        (("calc/__init__.py", "tests/__init__.py", "docs/__init__.py", "setup.py"), "calc", "."),
        (("calc/__init__.py", "noxfile.py"), "calc", "."),
        # a single-module project in src/
        (("src/tool.py",), "tool", "src"),
        # [project].name's code one folder down, outside any import root: named all the same,
        # so the check finds where it really resolves and refuses
        (("pyproject.toml", "lib/my_tool_kit/__init__.py"), "my_tool_kit", "."),
        # two candidates and no name to choose by: not told
        (("alpha/__init__.py", "beta/__init__.py"), None, "."),
        # not Python at all
        (("go.mod", "main.go"), None, "."),
    ],
)
def test_the_projects_package_and_import_root(
    tmp_path: Path, files: tuple[str, ...], package: str | None, root: str
) -> None:
    project = _tree(tmp_path, *files)
    assert top_level_package(project) == package
    assert import_roots(project) == (project / root,)


def test_declarations_uv_reads(tmp_path: Path) -> None:
    assert not declares_dependencies(_tree(tmp_path / "none", "calc/__init__.py"))
    assert declares_dependencies(_tree(tmp_path / "lock", "uv.lock"))
    assert declares_dependencies(_tree(tmp_path / "dev", "requirements-dev.txt"))
    assert declares_dependencies(_tree(tmp_path / "dir", "requirements/test.txt"))
    assert declares_dependencies(_tree(tmp_path / "pyproject", "pyproject.toml"))
