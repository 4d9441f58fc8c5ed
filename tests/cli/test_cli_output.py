"""What the CLI prints is the plan's own text, and every command that prints data has --json.

Plan titles, tier names, notes and test ids are data, never Rich markup: `[/]` must not crash,
`list[int]` must keep `[int]`, `[bold]` must stay visible. Proven on `autopack plan` and on a real
run (the demo project, the real agent over the fake OpenAI server, the Verifier in bubblewrap)
whose titles and notes carry such text, read back with run, status, logs, issues, runs and watch.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

runner = CliRunner()

TITLE = "Add subtraction -> list[int] [/] [bold]loud[/bold]"
TIER = "Operations [/] on dict[str, list[int]]"
NOTE = "subtract has no test for list[int] [/] or [bold]negatives[/bold]"
PLAN = f"""# Calculator [bold]plan[/bold] [/]

## Tier 1: {TIER}

### Phase 1.1: {TITLE}
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py
acceptance: python -m unittest tests.test_subtract

Add `subtract(a, b)` returning list[int] [/] to calc/ops.py with a unit test.

### Phase 1.2: Protect the workflow [red]now[/red]
category: feature
complexity: low
scope: calc/ops.py

Tries only to write a protected path, which the agent's edit tool refuses: the phase changes
nothing in its attempts and the run ends in a DONE_FAILED_* state.
"""

WRITES_A_PROTECTED_PATH = {"op": "create", "path": ".github/workflows/ci.yml", "content": "x\\n"}


def script(api: str, request: dict[str, Any]) -> Reply:
    reply = demo_reply(api, request)
    task = json.dumps(request.get("messages", [])[:2])
    if "Protect the workflow" in task and reply.tool_calls[0].name == "edit":
        return Reply(
            tool_calls=(ToolCall(name="edit", arguments={"edits": [WRITES_A_PROTECTED_PATH]}),)
        )
    if "Add subtraction" in task and reply.tool_calls[0].name == "finish":
        note = {"issue_key": "tests:subtract-negatives", "summary": NOTE, "severity": "minor"}
        finish = {"summary": "done", "suggested_issues": [note]}
        return Reply(tool_calls=(ToolCall(name="finish", arguments=finish),))
    return reply


@dataclass
class Ran:
    root: Path
    run_id: str
    exit_code: int
    output: str

    def cli(self, *args: str) -> Any:
        return runner.invoke(app, [*args, "--repo", str(self.root)])


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    folder = tmp_path_factory.mktemp("markup")
    plan = folder / "plan.md"
    plan.write_text(PLAN)
    with fake_llm_server(script) as server:
        root = folder / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        result = runner.invoke(
            app, ["run", str(plan), "--repo", str(root)], env={"OPENAI_API_KEY": "test-key"}
        )
    runs = json.loads(runner.invoke(app, ["runs", "--repo", str(root), "--json"]).stdout)
    return Ran(root, runs[0]["run_id"], result.exit_code, result.stdout + result.stderr)


def test_plan_shows_titles_and_names_as_written(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    plan = tmp_path / "plan.md"
    plan.write_text(PLAN)
    result = runner.invoke(app, ["plan", str(plan), "--repo", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in ("Calculator [bold]plan[/bold] [/]", TIER, "[red]now[/red]"):
        assert text in result.stdout
    for fragment in ("list[int]", "[bold]loud[/bold]"):  # the table wraps the phase's title
        assert fragment in result.stdout


def test_a_failed_run_exits_10_and_its_progress_shows_titles_as_written(ran: Ran) -> None:
    assert ran.exit_code == 10, ran.output
    assert "DONE_FAILED_" in ran.output
    assert f"phase 1.1: {TITLE}" in ran.output
    assert "Traceback" not in ran.output


def test_status_logs_issues_runs_and_watch_show_plan_text_as_written(ran: Ran) -> None:
    status = ran.cli("status", ran.run_id)
    assert status.exit_code == 0, status.output
    assert f"1.1 {TITLE}" in status.stdout
    assert TIER in status.stdout
    issues = ran.cli("issues", ran.run_id)
    assert issues.exit_code == 0, issues.output
    assert NOTE in issues.stdout
    watch = ran.cli("watch", ran.run_id)
    assert watch.exit_code == 10
    assert TITLE in watch.stdout
    assert ran.run_id in ran.cli("runs").stdout
    assert ran.cli("logs", ran.run_id).exit_code == 0


@pytest.mark.parametrize(
    "command",
    [("status",), ("logs",), ("issues",), ("watch",), ("runs",), ("backlog",), ("models",)],
    ids=" ".join,
)
def test_json_output_parses_and_keeps_the_text(ran: Ran, command: tuple[str, ...]) -> None:
    arguments = (
        [*command, ran.run_id] if command[0] in ("status", "logs", "issues", "watch") else command
    )
    result = ran.cli(*arguments, "--json")
    text = result.stdout
    if command == ("watch",):  # one JSON event per line
        assert result.exit_code == 10
        events = [json.loads(line) for line in text.splitlines()]
        assert any(event.get("title") == TITLE for event in events)
        return
    assert result.exit_code == 0, result.output
    data = json.loads(text)
    if command == ("status",):
        assert data["tiers"][0]["name"] == TIER
        assert data["tiers"][0]["phases"][0]["title"] == TITLE
    if command == ("issues",):
        assert NOTE in json.dumps(data)


# Commands that print no data of their own: servers, and references printed as text.
WITHOUT_DATA = {"serve", "mcp", "help"}


def test_every_command_that_prints_data_has_json() -> None:
    group = typer.main.get_command(app)
    missing = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for sub_name, sub in getattr(command, "commands", {name: command}).items():
            options = {opt for param in sub.params for opt in getattr(param, "opts", ())}
            if name not in WITHOUT_DATA and "--json" not in options:
                missing.append(f"{name} {sub_name}")
    assert missing == []
