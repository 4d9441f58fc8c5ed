"""A run checks, before its first attempt, that its commands would import the worktree's code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import FILES, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.runs import get_run
from autopack.testing.environments import caller_environment
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server
from autopack.verify.bubblewrap import BubblewrapSandbox


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_a_run_whose_package_resolves_outside_the_worktree_ends_before_any_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: BubblewrapSandbox
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    # The caller's environment (first on PATH) has a working calc installed; the project keeps
    # its calc in lib/, where no import root points, so its tests would run the installed one.
    caller = caller_environment(tmp_path / "caller", "calc", FILES["calc/__init__.py"])
    monkeypatch.setenv("PATH", f"{caller / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(
            root,
            python="python",
            extra_config=aliases_on(server.openai_base_url)
            + '\n[environment]\npython = "inherit"\n',
        )
        (root / "lib").mkdir()
        _git(root, "mv", "calc", "lib/calc")
        (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0.1"\n')
        _git(root, "add", "pyproject.toml")
        _git(root, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qm", "lib layout")
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
        assert sum(server.calls_per_model.values()) == 0
    assert end.state is RunState.DONE_FAILED_ENVIRONMENT
    database = open_database(settings.database_url)
    try:
        failure = get_run(database, run_id).failure
    finally:
        database.close()
    assert failure is not None
    assert failure.code == "environment.project"
    assert "outside the worktree" in failure.message
    assert str(caller) in failure.message
    assert not (root / ".autonomous_runs" / run_id / "attempts").exists()


def test_the_builders_own_commands_import_the_attempt_worktrees_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: BubblewrapSandbox
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    # A src-layout calc, and a caller's environment (first on PATH) with another calc installed.
    caller = caller_environment(tmp_path / "caller", "calc", "WHERE = 'installed'\n")
    monkeypatch.setenv("PATH", f"{caller / 'bin'}{os.pathsep}{os.environ['PATH']}")
    probe = "python -c 'import calc; print(\"IMPORTED\", calc.__file__)'"
    seen: list[str] = []

    def reply(api: str, request: dict[str, Any]) -> Reply:
        tool_results = [m for m in request["messages"] if m["role"] == "tool"]
        if "# Phase 1.1:" in request["messages"][1]["content"] and not tool_results:
            return Reply(tool_calls=(ToolCall(name="run_command", arguments={"command": probe}),))
        seen.extend(str(m["content"]) for m in tool_results if "IMPORTED" in str(m["content"]))
        stripped = {
            **request,
            "messages": [m for m in request["messages"] if "IMPORTED" not in str(m.get("content"))],
        }
        return demo_reply(api, stripped)

    with fake_llm_server(reply) as server:
        root = tmp_path / "calc"
        plan = create_project(
            root,
            python="python",
            extra_config=aliases_on(server.openai_base_url)
            + '\n[environment]\npython = "inherit"\n',
        )
        (root / "src").mkdir()
        _git(root, "mv", "calc", "src/calc")
        (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0.1"\n')
        _git(root, "add", "pyproject.toml")
        _git(root, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qm", "src layout")
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        execute_run(settings, run_id, RunOptions())
    assert seen, "the Builder's command never ran"
    assert str(caller) not in seen[0]
    assert "/src/calc/__init__.py" in seen[0]
    assert str(root / ".autopack" / "worktrees" / run_id) in seen[0]
