"""How to run chosen tests with the runner a CI profile already uses (pytest or unittest).

The profile's own command names the interpreter and runner (`/venv/bin/python -m pytest -q`,
`uv run pytest`, `python -m unittest discover`); the launcher is that command up to the runner's
name, so chosen tests run the way the project runs all of them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

_SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&"})


class Runner(StrEnum):
    PYTEST = "pytest"
    UNITTEST = "unittest"


@dataclass(frozen=True)
class Launcher:
    runner: Runner
    words: tuple[str, ...]
    # The profile command it came from: failures without per-test results are that command's.
    name: str

    def command(self, test_ids: Sequence[str]) -> str:
        """A command running just these tests (`tests/test_x.py::Case::test_y` or test files)."""
        if self.runner is Runner.PYTEST:
            return shlex.join([*self.words, "-q", *test_ids])
        return shlex.join([*self.words, *(unittest_name(test_id) for test_id in test_ids)])


def unittest_name(test_id: str) -> str:
    """`tests/test_x.py::Case::test_y` as unittest names it: `tests.test_x.Case.test_y`."""
    file, *parts = test_id.split("::")
    module = file.removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts])


def _launcher(name: str, command: str) -> Launcher | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word in _SHELL_OPERATORS:
            return None  # `cd x && pytest`: the launcher is not one simple command
        program = word.rsplit("/", 1)[-1]
        if program in ("pytest", "py.test"):
            return Launcher(Runner.PYTEST, tuple(words[: index + 1]), name)
        if program == "unittest" and index > 1 and words[index - 1] == "-m":
            return Launcher(Runner.UNITTEST, tuple(words[: index + 1]), name)
    return None


def launcher_for(commands: Mapping[str, str]) -> Launcher | None:
    """The first profile command that runs pytest or unittest, as a launcher; None when none does."""
    for name, command in commands.items():
        launcher = _launcher(name, command)
        if launcher is not None:
            return launcher
    return None
