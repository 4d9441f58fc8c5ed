"""The ladder's pure parts: what an acceptance item asks for, how chosen tests run with the profile's
runner, which tests import the changed code, and which changes weaken the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.verify.acceptance import CheckKind, acceptance_check, runnable_checks
from autopack.verify.affected import affected_tests
from autopack.verify.launchers import Runner, launcher_for
from autopack.verify.syntax import syntax_errors
from autopack.verify.test_guard import is_test_file, suite_weakenings, weakenings


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
    assert weakenings("tests/test_broken.py", "def test_a(:\n", None) == []
    assert weakenings("tests/test_no_tests.py", "X = 1\n", None) == []


@pytest.mark.parametrize(
    ("path", "collected"),
    [
        ("tests/test_api.py", True),
        ("test_api.py", True),
        ("pkg/api_test.py", True),
        ("test/unit/test_x.py", True),
        ("tests/helpers.py", False),
        ("tests/typing/typing_prompt.py", False),
        ("tests/conftest.py", False),
        ("src/pkg/testing.py", False),
        ("tests/test_data.json", False),
        ("TEST_api.py", False),
    ],
)
def test_a_test_file_is_what_pytest_collects_by_default(path: str, collected: bool) -> None:
    assert is_test_file(path) is collected


def test_each_weakening_says_what_it_did() -> None:
    (deleted_file,) = weakenings("tests/test_x.py", TESTS, None)
    assert deleted_file.sentence() == "tests/test_x.py: deletes 2 test(s) (rule tests:deleted-file)"
    assert deleted_file.key == "tests:deleted-file:tests/test_x.py"
    (gone,) = weakenings(
        "tests/test_x.py", TESTS, TESTS.replace("def test_a", "def a").replace("test_b", "b")
    )
    assert gone.detail == "removes T.test_b, test_a"
    (fewer,) = weakenings(
        "tests/test_x.py",
        TESTS,
        TESTS.replace("    assert 2\n", "").replace("self.assertEqual(1, 1)", "pass"),
    )
    assert fewer.detail == "checks less in T.test_b, test_a"
    (skipped,) = weakenings(
        "tests/test_x.py", TESTS, TESTS.replace("def test_a", "@pytest.mark.skip\ndef test_a")
    )
    assert skipped.detail == "adds a skip or xfail to test_a"
    (around,) = weakenings(
        "tests/test_x.py",
        TESTS,
        'pytestmark = pytest.mark.skip("later")\n'
        + TESTS.replace("def test_a", "@pytest.mark.xfail\ndef test_a"),
    )
    assert around.detail == "adds a skip or xfail to test_a, the tests around it"


SKIPPING_NEIGHBOURS = """import pytest

WIN = False


@pytest.mark.skipif(WIN, reason="posix only")
def test_old():
    assert 1
"""


@pytest.mark.parametrize(
    ("after", "rules"),
    [
        # A new test with the same marker as its neighbours skips nothing that ran before.
        (
            SKIPPING_NEIGHBOURS
            + '\n\n@pytest.mark.skipif(WIN, reason="posix only")\ndef test_new():\n    assert 2\n',
            [],
        ),
        # More code (names, attributes, calls) in a test is not a skip.
        (
            SKIPPING_NEIGHBOURS.replace(
                "    assert 1", "    value = pytest.approx(1)\n    assert value"
            ),
            [],
        ),
        # A marker for the whole module skips the tests that were there.
        ('pytestmark = pytest.mark.skip("later")\n' + SKIPPING_NEIGHBOURS, ["tests:skipped"]),
        (
            SKIPPING_NEIGHBOURS.replace("    assert 1", "    pytest.skip('x')\n    assert 1"),
            ["tests:skipped"],
        ),
    ],
)
def test_skips_are_judged_per_test_that_already_ran(after: str, rules: list[str]) -> None:
    assert [w.rule for w in weakenings("tests/test_s.py", SKIPPING_NEIGHBOURS, after)] == rules


CHECKS = """import pytest
import unittest


def test_plain():
    assert f(1) == 1
    assert f(2)


class T(unittest.TestCase):
    def test_calls(self):
        self.assertEqual(f(1), 1)
        self.assertTrue(f(2))


def test_raises():
    with pytest.raises(ValueError):
        f(-1)


def test_warns():
    with pytest.warns(UserWarning):
        f(-2)


def test_fails():
    if f(0):
        pytest.fail("f(0)")
"""


@pytest.mark.parametrize(
    ("before", "after", "rules"),
    [
        # The same checks, written the other way, are not fewer.
        (
            CHECKS,
            CHECKS.replace(
                "    assert f(1) == 1\n    assert f(2)",
                "    self_check(f)\n    unittest.TestCase().assertEqual(f(1), 1)\n    unittest.TestCase().assertTrue(f(2))",
            ),
            [],
        ),
        (
            CHECKS,
            CHECKS.replace(
                "        self.assertEqual(f(1), 1)\n        self.assertTrue(f(2))",
                "        assert f(1) == 1\n        assert f(2)",
            ),
            [],
        ),
        (CHECKS, CHECKS.replace("    assert f(2)", "    print(f(2))"), ["tests:fewer-assertions"]),
        (
            CHECKS,
            CHECKS.replace("    with pytest.raises(ValueError):\n        f(-1)", "    f(-1)"),
            ["tests:fewer-assertions"],
        ),
        (
            CHECKS,
            CHECKS.replace("    with pytest.warns(UserWarning):\n        f(-2)", "    f(-2)"),
            ["tests:fewer-assertions"],
        ),
        (
            CHECKS,
            CHECKS.replace('        pytest.fail("f(0)")', "        pass"),
            ["tests:fewer-assertions"],
        ),
        # A helper method of a test class is not a test.
        (
            CHECKS.replace(
                "class T(unittest.TestCase):\n",
                "class T(unittest.TestCase):\n    def helper(self):\n        return 1\n\n",
            ),
            CHECKS,
            [],
        ),
    ],
)
def test_assertions_are_counted_however_they_are_written(
    before: str, after: str, rules: list[str]
) -> None:
    assert [w.rule for w in weakenings("tests/test_c.py", before, after)] == rules


def test_the_suite_is_judged_file_by_file() -> None:
    before = {"tests/test_x.py": TESTS, "tests/test_y.py": TESTS, "src/a.py": "x = 1\n"}
    after = {"tests/test_x.py": TESTS, "src/a.py": "x = 2\n"}
    found = suite_weakenings(tuple(before), before.get, after.get)
    assert [(w.path, w.rule) for w in found] == [("tests/test_y.py", "tests:deleted-file")]


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ("/usr/bin/make check", CheckKind.COMMAND),
        ("./check", CheckKind.COMMAND),
        ("scripts/x/pytest -q", CheckKind.COMMAND),
        ("tools/bin/python -m x", CheckKind.COMMAND),
        ("makefile targets pass", CheckKind.CRITERION),
        ("a/b/c/make check", CheckKind.COMMAND),
        ("run.sh", CheckKind.CRITERION),
        ("/opt/tools/check-api spec.yaml", CheckKind.COMMAND),
        ("   ", CheckKind.CRITERION),
    ],
)
def test_a_command_is_known_by_its_program(item: str, kind: CheckKind) -> None:
    assert acceptance_check(item).kind is kind


@pytest.mark.parametrize(
    ("commands", "runner", "words", "name"),
    [
        ({"t": "/a/b/py.test -x"}, Runner.PYTEST, ("/a/b/py.test",), "t"),
        ({"t": "/opt/x/bin/pytest"}, Runner.PYTEST, ("/opt/x/bin/pytest",), "t"),
        (
            {"lint": "ruff .", "unit": "python3 -m unittest -v"},
            Runner.UNITTEST,
            ("python3", "-m", "unittest"),
            "unit",
        ),
        ({"t": "unittest discover"}, None, (), ""),
        ({"t": "python unittest.py"}, None, (), ""),
        ({"t": "-m unittest"}, None, (), ""),
    ],
)
def test_the_launcher_names_its_command(
    commands: dict[str, str], runner: Runner | None, words: tuple[str, ...], name: str
) -> None:
    launcher = launcher_for(commands)
    if runner is None:
        assert launcher is None
        return
    assert launcher is not None
    assert (launcher.runner, launcher.words, launcher.name) == (runner, words, name)
