"""Refuse an attempt that deletes, skips or weakens existing tests, judged by the files' syntax
trees before and after (not the diff text): a test function gone, a skip or xfail added, fewer
assertions in the tests that remain, or a whole test file deleted.

A phase whose category is `tests`, or whose plan says `test_changes: allowed`, may do all of this.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

_SKIP_NAMES = frozenset(
    {"skip", "skipif", "skipIf", "skipUnless", "skipTest", "xfail", "expectedFailure"}
)


@dataclass(frozen=True)
class Weakening:
    path: str
    rule: str
    detail: str

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.path}"

    def sentence(self) -> str:
        return f"{self.path}: {self.detail} (rule {self.rule})"


def is_test_file(path: str) -> bool:
    """A file pytest and unittest discovery collect by default: `test_*.py` or `*_test.py`
    (a helper or typing fixture under tests/ is not one, and naming it to pytest fails)."""
    pure = PurePosixPath(path)
    return pure.suffix == ".py" and (pure.name.startswith("test_") or pure.stem.endswith("_test"))


def _tests(tree: ast.Module) -> dict[str, ast.AST]:
    """Test functions by qualified name (`Class.test_x` for methods)."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(
                    item, ast.FunctionDef | ast.AsyncFunctionDef
                ) and item.name.startswith("test"):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _skips(tree: ast.AST) -> int:
    """Skip and xfail markers and calls (`@pytest.mark.skip`, `@pytest.mark.xfail(...)`,
    `self.skipTest(...)`, `@unittest.expectedFailure`): each names one of them once."""
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Name) and _name(node) in _SKIP_NAMES
    )


def _assertions(node: ast.AST) -> int:
    count = 0
    for child in ast.walk(node):
        if isinstance(child, ast.Assert):
            count += 1
        elif isinstance(child, ast.Call):
            name = _name(child.func) or ""
            if name.startswith("assert") or name in ("raises", "warns", "fail"):
                count += 1
    return count


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def weakenings(path: str, before: str | None, after: str | None) -> list[Weakening]:
    """How the change of one test file weakens the suite; [] when it does not (or is not one)."""
    if before is None or not is_test_file(path):
        return []
    old = _parse(before)
    if old is None:
        return []
    old_tests = _tests(old)
    if after is None:
        if old_tests:
            return [Weakening(path, "tests:deleted-file", f"deletes {len(old_tests)} test(s)")]
        return []
    new = _parse(after)
    if new is None:
        return []  # the syntax rung reports it
    new_tests = _tests(new)
    found: list[Weakening] = []
    gone = sorted(set(old_tests) - set(new_tests))
    if gone:
        found.append(Weakening(path, "tests:deleted-test", f"removes {', '.join(gone)}"))
    kept = set(old_tests) & set(new_tests)
    # Per test that already existed, and around them (class decorators, `pytestmark`): a new
    # test carrying the same skipif as its neighbours skips nothing that ran before.
    skipped = sorted(name for name in kept if _skips(new_tests[name]) > _skips(old_tests[name]))
    around = _skips(new) - sum(map(_skips, new_tests.values()))
    if around > _skips(old) - sum(map(_skips, old_tests.values())):
        skipped.append("the tests around it")
    if skipped:
        found.append(
            Weakening(path, "tests:skipped", f"adds a skip or xfail to {', '.join(skipped)}")
        )
    before_count = Counter({name: _assertions(old_tests[name]) for name in kept})
    after_count = Counter({name: _assertions(new_tests[name]) for name in kept})
    fewer = sorted(name for name in kept if after_count[name] < before_count[name])
    if fewer:
        found.append(
            Weakening(path, "tests:fewer-assertions", f"checks less in {', '.join(fewer)}")
        )
    return found


def suite_weakenings(
    paths: tuple[str, ...],
    before: Callable[[str], str | None],
    after: Callable[[str], str | None],
) -> list[Weakening]:
    return [w for path in paths for w in weakenings(path, before(path), after(path))]
