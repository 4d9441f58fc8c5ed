"""docs/governance.md names a real end-to-end test for every rule, and every name exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "governance.md"
FILES = {
    "R": "tests/run/test_governance_runs.py",
    "S": "tests/run/test_supervisor_e2e.py",
    "H": "tests/run/test_hostile_runs.py",
    "A": "tests/server/test_api_governance.py",
    "P": "tests/run/test_plan_secrets_runs.py",
    "L": "tests/run/test_ladder_runs.py",
    "F": "tests/run/test_preflight.py",
    "Q": "tests/run/test_parallel_phases.py",
}


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def _rows() -> list[str]:
    # The rule tables come before the mutation-testing section and its tables of figures.
    text = MATRIX.read_text(encoding="utf-8").split("## Mutation testing", 1)[0]
    return [
        line
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith(("| rule", "|---"))
    ]


def test_every_rule_row_names_a_proof() -> None:
    rows = _rows()
    assert len(rows) >= 30
    for row in rows:
        proof = row.rstrip(" |").rsplit(" | ", 1)[-1]
        assert re.search(r"`test_\w+|tests/\S+\.py", proof), f"no test named for: {row}"


def test_every_named_test_exists_in_the_file_its_letter_names() -> None:
    defined = {letter: _tests_in(ROOT / path) for letter, path in FILES.items()}
    everywhere = set().union(*defined.values())
    checked = 0
    for row in _rows():
        proof = row.rstrip(" |").rsplit(" | ", 1)[-1]
        for letter, name in re.findall(r"\b([RSHAP]) `(test_\w+)", proof):
            assert name in defined[letter], f"{name} is not in {FILES[letter]}"
            checked += 1
        for name in re.findall(r"`(test_\w+)`", proof):
            named_files = re.findall(r"(tests/[\w/]+\.py)", proof)
            if named_files:
                found = set().union(*(_tests_in(ROOT / f) for f in named_files))
                assert name in found | everywhere, f"{name} is not in {named_files}"
            else:
                assert name in everywhere, f"{name} is in none of {sorted(FILES.values())}"
            checked += 1
    assert checked >= 30
