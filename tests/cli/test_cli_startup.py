"""`autopack --help` starts without the provider SDKs, DBOS, the web stack or the database layer.

Asserted on imports, not timing (bench/cli_startup.py prints the CPU seconds): each command runs
in a fresh interpreter through the console entry point, which then reports what was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("openai", "anthropic", "pydantic_ai", "dbos", "fastapi", "uvicorn", "sqlalchemy", "httpx")

PROBE = """
import json, sys
from autopack.cli.main import main
heavy = json.loads(sys.argv[2])
sys.argv = ["autopack", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "imported": [m for m in heavy if m in sys.modules]}))
"""


def imported_by(*arguments: str, heavy: tuple[str, ...] = HEAVY) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(arguments), json.dumps(heavy)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "arguments",
    [
        ("--help",),
        ("--version",),
        ("run", "--help"),
        ("plan", "--help"),
        ("status", "--help"),
        ("serve", "--help"),
        ("mcp", "--help"),
        ("token", "create", "--help"),
        ("project", "add", "--help"),
        ("help", "exit-codes"),
    ],
    ids=" ".join,
)
def test_help_imports_no_provider_sdk_nor_database_layer(arguments: tuple[str, ...]) -> None:
    assert imported_by(*arguments) == {"code": 0, "imported": []}


@pytest.mark.parametrize("arguments", [("--help",), ("--version",)], ids=" ".join)
def test_top_level_help_defines_no_pydantic_model(arguments: tuple[str, ...]) -> None:
    # Pydantic's first model costs about 0.2 s of CPU. (A command's own --help imports pydantic
    # anyway: typer builds its parameters' converters with it.)
    assert imported_by(*arguments, heavy=("pydantic",)) == {"code": 0, "imported": []}


def test_the_probe_sees_what_a_command_that_runs_imports(tmp_path: object) -> None:
    # The same probe on a command that loads the run machinery does see the heavy packages:
    # the test above can fail.
    result = imported_by("sweep", "--repo", str(tmp_path))
    assert "sqlalchemy" in result["imported"]  # type: ignore[operator]
