"""The ladder's pure parts: what an acceptance item asks for, how chosen tests run with the profile's
runner, which tests import the changed code, and which changes weaken the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.verify.acceptance import CheckKind, acceptance_check, runnable_checks
from autopack.verify.affected import affected_tests
from autopack.verify.launchers import Runner, launcher_for
from autopack.verify.syntax import syntax_errors
from autopack.verify.test_guard import is_test_file, weakenings


@pytest.mark.parametrize(
    ("item", "kind", "text"),
    [
        ("tests/test_api.py::test_x", CheckKind.TEST, "tests/test_api.py::test_x"),
        ("tests/test_api.py::Case::test_y[1-2]", CheckKind.TEST, None),
        ("tests/test_api.py", CheckKind.TEST, None),
        ("python -m pytest -q tests/test_repository.py", CheckKind.COMMAND, None),
        ("./scripts/check.sh --fast", CheckKind.COMMAND, None),
        ("$ check-openapi spec.yaml", CheckKind.COMMAND, "check-openapi spec.yaml"),
        ("dividing by zero raises ValueError with a clear message", CheckKind.CRITERION, None),
        ("make it 'fast", CheckKind.CRITERION, None),  # unbalanced quote: words, not a command
    ],
)
def test_an_acceptance_item_is_a_test_a_command_or_a_criterion(
    item: str, kind: CheckKind, text: str | None
) -> None:
    check = acceptance_check(item)
    assert check.kind is kind
    assert check.text == (text or item)


def test_only_tests_and_commands_are_run() -> None:
    checks = runnable_checks(("tests/test_a.py::test_b", "it is fast", " ", "make check"))
    assert [c.text for c in checks] == ["tests/test_a.py::test_b", "make check"]


def test_the_launcher_is_the_profile_command_up_to_its_runner() -> None:
    pytest_launcher = launcher_for(
        {"lint": "ruff check .", "tests": "/v/bin/python -m pytest -x tests"}
    )
    assert pytest_launcher is not None
    assert pytest_launcher.runner is Runner.PYTEST
    assert pytest_launcher.command(["tests/test_a.py::T::test_b[x y]"]) == (
        "/v/bin/python -m pytest -q 'tests/test_a.py::T::test_b[x y]'"
    )
    unittest_launcher = launcher_for({"tests": "python -m unittest discover -s tests -t ."})
    assert unittest_launcher is not None
    assert unittest_launcher.runner is Runner.UNITTEST
    assert unittest_launcher.command(["tests/test_a.py::T::test_b", "tests/test_c.py"]) == (
        "python -m unittest tests.test_a.T.test_b tests.test_c"
    )
    assert launcher_for({"tests": "cd sub && pytest"}) is None
    assert launcher_for({"tests": "npm test"}) is None


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_tests_importing_the_changed_module_directly_or_not_are_affected(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/core.py": "def f(): return 1\n",
            "src/pkg/api.py": "from .core import f\n",
            "src/pkg/other.py": "X = 1\n",
            "tests/test_api.py": "from pkg.api import f\n",
            "tests/test_core.py": "import pkg.core\n",
            "tests/test_other.py": "from pkg import other\n",
            "tests/test_new.py": "def test_x(): pass\n",
            ".venv/lib/test_vendored.py": "import pkg.core\n",
        },
    )
    assert affected_tests(tmp_path, ["src/pkg/core.py"]) == [
        "tests/test_api.py",
        "tests/test_core.py",
    ]
    assert affected_tests(tmp_path, ["src/pkg/other.py", "tests/test_new.py"]) == [
        "tests/test_new.py",
        "tests/test_other.py",
    ]
    assert affected_tests(tmp_path, ["README.md"]) == []
    assert affected_tests(tmp_path, ["tests/conftest.py"]) is None


def test_changed_files_that_do_not_parse_are_named_with_their_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"a.py": "def f(:\n", "b.json": "{", "c.toml": "x = ", "d.py": "x = 1\n", "e.md": "{"},
    )
    errors = syntax_errors(tmp_path, ["a.py", "b.json", "c.toml", "d.py", "e.md", "gone.py"])
    assert [line.split(":", 1)[0] for line in errors] == ["a.py", "b.json", "c.toml"]
    assert errors[0].startswith("a.py:1: ")


TESTS = """import pytest
import unittest


def test_a():
    assert 1 == 1
    assert 2


class T(unittest.TestCase):
    def test_b(self):
        self.assertEqual(1, 1)
"""


@pytest.mark.parametrize(
    ("after", "rules"),
    [
        (TESTS, []),
        (TESTS + "\n\ndef test_c():\n    assert 3\n", []),
        (
            TESTS.replace(
                "    assert 1 == 1\n    assert 2", "    assert 1 == 1\n    assert 2\n    assert 4"
            ),
            [],
        ),
        (TESTS.replace("    assert 2\n", ""), ["tests:fewer-assertions"]),
        (TESTS.replace("self.assertEqual(1, 1)", "pass"), ["tests:fewer-assertions"]),
        (
            TESTS.replace("def test_a", "@pytest.mark.skip(reason='later')\ndef test_a"),
            ["tests:skipped"],
        ),
        (TESTS.replace("def test_a", "@pytest.mark.xfail\ndef test_a"), ["tests:skipped"]),
        (
            TESTS.replace(
                "self.assertEqual(1, 1)", "self.skipTest('x')\n        self.assertEqual(1, 1)"
            ),
            ["tests:skipped"],
        ),
        (TESTS.replace("def test_a", "def helper_a"), ["tests:deleted-test"]),
        (None, ["tests:deleted-file"]),
    ],
)
def test_deleting_skipping_or_weakening_a_test_is_found(
    after: str | None, rules: list[str]
) -> None:
    found = weakenings("tests/test_x.py", TESTS, after)
    assert [w.rule for w in found] == rules
    assert all(w.path == "tests/test_x.py" for w in found)


def test_only_existing_test_files_are_judged() -> None:
    assert weakenings("src/pkg/core.py", TESTS, None) == []
    assert weakenings("tests/test_new.py", None, TESTS) == []
    assert is_test_file("tests/helpers.py")
    assert is_test_file("pkg/foo_test.py")
    assert not is_test_file("tests/conftest.py")
    assert not is_test_file("src/pkg/testing.py")
