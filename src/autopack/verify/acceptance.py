"""What a phase's `acceptance:` items ask for: a test to run, a command to run, or a criterion.

Test ids (`tests/test_api.py::test_x`, or a whole test file) and commands are run by the Verifier and
must pass after the phase, whatever the base commit did; anything else is a criterion in words, shown
to the Builder and the Auditor only.
"""

from __future__ import annotations

import re
import shlex
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# A path to a Python test file, optionally with `::Class::name[param]` parts.
_TEST_ID = re.compile(r"^(?P<file>[\w./-]+\.py)(?P<parts>(::[^\s:]+)*)$")
# Programs an acceptance command starts with; an explicit `$ ` prefix marks any other command.
_RUNNERS = frozenset(
    {
        "python", "python3", "pytest", "uv", "make", "npm", "npx", "pnpm", "yarn", "node", "go",
        "cargo", "tox", "nox", "bash", "sh", "ruff", "mypy", "just", "poetry", "hatch", "deno",
        "bun", "mvn", "gradle", "dotnet", "ctest", "rake", "bundle",
    }
)  # fmt: skip
COMMAND_PREFIX = "$ "


class CheckKind(StrEnum):
    TEST = "test"
    COMMAND = "command"
    CRITERION = "criterion"


class AcceptanceCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CheckKind
    text: str

    @property
    def key(self) -> str:
        """The issue key of this check failing."""
        return f"acceptance:{self.text}"


def _is_command(text: str) -> bool:
    try:
        words = shlex.split(text)
    except ValueError:
        return False
    if not words:
        return False
    program = words[0]
    return program.startswith(("./", "/")) or program.rsplit("/", 1)[-1] in _RUNNERS


def acceptance_check(item: str) -> AcceptanceCheck:
    text = item.strip()
    if text.startswith(COMMAND_PREFIX):
        return AcceptanceCheck(kind=CheckKind.COMMAND, text=text[len(COMMAND_PREFIX) :].strip())
    if _TEST_ID.match(text):
        return AcceptanceCheck(kind=CheckKind.TEST, text=text)
    if _is_command(text):
        return AcceptanceCheck(kind=CheckKind.COMMAND, text=text)
    return AcceptanceCheck(kind=CheckKind.CRITERION, text=text)


def runnable_checks(items: tuple[str, ...]) -> tuple[AcceptanceCheck, ...]:
    """The items the Verifier runs (tests and commands), in plan order."""
    checks = (acceptance_check(item) for item in items if item.strip())
    return tuple(check for check in checks if check.kind is not CheckKind.CRITERION)
