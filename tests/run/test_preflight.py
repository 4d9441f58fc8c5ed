"""Checked before a run exists: a run that cannot work leaves no run, branch, worktree or paid call."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.testing.environments import caller_environment
from autopack.testing.fake_llm import FakeLLMServer, fake_llm_server


def _nothing_left(root: Path, server: FakeLLMServer) -> None:
    branches = subprocess.run(
        ["git", "branch", "--list", "autopack/*"], cwd=root, capture_output=True, text=True
    ).stdout
    assert branches.strip() == ""
    runs = root / ".autonomous_runs"
    assert not runs.exists() or not any(p.name.startswith("run-") for p in runs.iterdir())
    worktrees = root / ".autopack" / "worktrees"
    assert not worktrees.exists() or not any(worktrees.iterdir())
    assert sum(server.calls_per_model.values()) == 0
    listed = CliRunner().invoke(app, ["runs", "--repo", str(root), "--json"])
    assert '"run_id"' not in listed.output


def test_a_run_without_its_models_key_is_refused_before_anything_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code != 0
        assert "OPENAI_API_KEY is not set" in result.output
        assert "openai-standard" in result.output
        _nothing_left(root, server)


def test_a_project_alias_naming_no_key_variable_needs_its_providers_key_before_anything_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An openai alias without api_key_env reads OPENAI_API_KEY: the preflight checks it, rather
    # than letting the run start and its first call fail.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        mine = (
            f'\n[models.aliases.mine]\nprovider = "openai"\nmodel = "gpt-6.1-sol"\n'
            f'base_url = "{server.openai_base_url}"\n'
            "price_input_per_mtok = 2\nprice_output_per_mtok = 10\n"
        )
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + mine)
        config = root / "autopack.toml"
        config.write_text(
            config.read_text().replace('standard = "openai-standard"', 'standard = "mine"')
        )
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code != 0
        assert "OPENAI_API_KEY is not set (alias mine" in result.output
        _nothing_left(root, server)


def test_a_missing_cassette_is_refused_before_anything_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        missing = tmp_path / "nope.jsonl"
        result = CliRunner().invoke(
            app, ["run", str(plan), "--repo", str(root), "--llm", f"replay:{missing}"]
        )
        assert result.exit_code != 0
        assert "no such cassette file" in result.output
        _nothing_left(root, server)


def test_an_empty_plan_is_refused_without_asking_the_planner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        empty = root / "empty.md"
        empty.write_text("\n  \n")
        result = CliRunner().invoke(app, ["run", str(empty), "--repo", str(root)])
        assert result.exit_code != 0
        assert "the plan is empty" in result.output
        _nothing_left(root, server)


def test_a_free_form_plan_without_the_planners_key_is_refused_before_the_planner_is_paid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        wish = root / "wish.txt"
        wish.write_text("Add subtraction and multiplication to the calculator, with tests.\n")
        result = CliRunner().invoke(app, ["run", str(wish), "--repo", str(root)])
        assert result.exit_code != 0
        assert "OPENAI_API_KEY is not set" in result.output
        assert "the planner" in result.output
        _nothing_left(root, server)


def test_a_ci_command_that_fails_at_the_base_for_no_test_is_refused_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        _add_broken_linter(root)
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code == 2, result.output
        assert "CI command 'lint' (`no-such-linter --check`) fails on the base commit" in (
            result.output
        )
        assert "exit 127" in result.output
        assert "not found" in result.output  # the command's own output, shown
        _nothing_left(root, server)


def test_an_acceptance_test_no_profile_command_can_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        config = root / "autopack.toml"
        text = config.read_text()
        start = text.index("tests = ")
        end = text.index("\n", start)
        config.write_text(text[:start] + 'tests = "sh run-tests.sh"' + text[end:])
        _commit(root)
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code == 2, result.output
        assert "phase 1.1 names acceptance test tests/test_subtract.py" in result.output
        _nothing_left(root, server)


def _commit(root: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "config"],
        cwd=root,
        check=True,
    )


def test_a_run_created_without_the_preflight_stops_at_its_baseline_before_any_paid_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the API and a chain's later parts create runs: the run's own baseline step refuses.
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        _add_broken_linter(root)
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
        assert end.state is RunState.DONE_FAILED_ENVIRONMENT
        assert "CI command 'lint'" in end.message
        assert sum(server.calls_per_model.values()) == 0


def test_a_project_whose_package_would_not_be_the_worktrees_is_refused_before_anything_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    # The caller's environment has a calc installed; the project keeps its own in lib/, where no
    # import root points, so its tests would import the installed copy.
    caller = caller_environment(tmp_path / "caller", "calc", "VALUE = 1\n")
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
        subprocess.run(["git", "mv", "calc", "lib/calc"], cwd=root, check=True)
        (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0.1"\n')
        subprocess.run(["git", "add", "pyproject.toml"], cwd=root, check=True)
        _commit(root)
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code == 6, result.output
        assert "outside the worktree" in result.output
        _nothing_left(root, server)


def test_a_profile_without_ci_commands_is_refused_before_anything_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        config = root / "autopack.toml"
        text = config.read_text()
        start = text.index("[ci.normal.commands]")
        end = text.index("\n", text.index("tests = ", start))
        config.write_text(text[:start] + text[end + 1 :])
        _commit(root)
        result = CliRunner().invoke(app, ["run", str(plan), "--repo", str(root)])
        assert result.exit_code == 2, result.output
        assert "no CI commands for profile normal" in result.output
        _nothing_left(root, server)


def _add_broken_linter(root: Path) -> None:
    """A CI command that fails before any change: its program is not installed (exit 127)."""
    config = root / "autopack.toml"
    config.write_text(
        config.read_text().replace(
            "[ci.normal.commands]\n", '[ci.normal.commands]\nlint = "no-such-linter --check"\n'
        )
    )
    _commit(root)
