"""The demo's sample project: a tiny calculator package, its unittest suite, a plan and a config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAN_FILE = "comprehensive_plan.md"

FILES: dict[str, str] = {
    "calc/__init__.py": '"""A tiny calculator, grown phase by phase by Autopack\'s demo."""\n',
    "calc/ops.py": '''"""Arithmetic operations."""


def add(a: float, b: float) -> float:
    return a + b
''',
    "tests/__init__.py": "",
    "tests/test_ops.py": """import unittest

from calc.ops import add


class AddTest(unittest.TestCase):
    def test_add(self) -> None:
        self.assertEqual(add(2, 3), 5)


if __name__ == "__main__":
    unittest.main()
""",
    "README.md": "# calc\n\nA tiny calculator.\n",
    ".gitignore": "__pycache__/\n.autopack/\n.autonomous_runs/\n",
}

PLAN = """# Calculator

A tiny calculator grown in two tiers: the missing operations, then input safety and docs.

## Tier 1: Operations

### Phase 1.1: Add subtraction
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py
acceptance: tests/test_subtract.py

Add `subtract(a, b)` to calc/ops.py with a unit test.

### Phase 1.2: Add multiplication
category: feature
complexity: low
scope: calc/ops.py, tests/test_multiply.py
acceptance: tests/test_multiply.py

Add `multiply(a, b)` to calc/ops.py with a unit test.

## Tier 2: Safety and docs

### Phase 2.1: Division that refuses zero
category: security_auth_change
complexity: medium
scope: calc/ops.py, tests/test_divide.py
acceptance: dividing by zero raises ValueError with a clear message

Add `divide(a, b)` that raises ValueError("cannot divide by zero") for b == 0, with tests.

### Phase 2.2: Document the operations
category: docs
complexity: low
scope: README.md

List every operation in README.md with a one-line example each.
"""


def config_text(python: str, extra: str = "") -> str:
    return f"""[project]
id = "calc-demo"

[routing]
top = "openai-standard"
standard = "openai-standard"
fast = "openai-fast"

[ci.normal.commands]
tests = "{python} -m unittest discover -s tests -t ."
{extra}"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Autopack Demo", "-c", "user.email=demo@autopack.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def create_project(root: Path, *, python: str = sys.executable, extra_config: str = "") -> Path:
    """A fresh git repository at `root` (which must be empty or absent); returns the plan's path."""
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    (root / "autopack.toml").write_text(config_text(python, extra_config), encoding="utf-8")
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", "A calculator that can only add")
    return root / PLAN_FILE
