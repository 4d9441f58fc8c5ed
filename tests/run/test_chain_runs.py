"""Plans larger than one run: `autopack run` runs the parts as consecutive runs, each from the
previous part's integration head, and only after the previous part ended DONE_SUCCESS.

Real runs: the demo project (two tiers of two phases) with `run.max_phases = 2`, so it is two
parts; the real agent and Auditor against the fake OpenAI server, real git, the Verifier in
bubblewrap, the CLI driven through typer's runner.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Approval
from autopack.errors import ConfigError
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import database_url_for, open_database
from autopack.store.runs import RunRecord, get_run, list_runs, set_phase_approval
from autopack.testing.api_server import Api, start_api
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

TWO_PARTS = "\n[ruleset.run]\nmax_phases = 2\n"


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def _runs(root: Path) -> list[RunRecord]:
    """The project's runs, oldest first."""
    database = open_database(database_url_for(root, {}))
    try:
        found = list_runs(database)
        return [get_run(database, line[0]) for line in reversed(found)]
    finally:
        database.close()


def _cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--repo", str(root)])


def _status(root: Path, run_id: str) -> dict[str, Any]:
    result = _cli(root, "status", run_id, "--json")
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def test_a_plan_over_max_phases_runs_as_two_runs_the_second_on_the_first_ones_head(
    tmp_path: Path, key_in_env: None
) -> None:
    root = tmp_path / "calc"
    with fake_llm_server(demo_reply) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + TWO_PARTS)
        result = _cli(root, "run", str(plan))
    assert result.exit_code == 0, result.output
    first, second = _runs(root)
    assert [first.state, second.state] == [RunState.DONE_SUCCESS, RunState.DONE_SUCCESS]
    # In the order the preview shows: tier 1's phases, then tier 2's.
    assert first.plan_title == "Calculator (part 1/2)"
    assert second.plan_title == "Calculator (part 2/2)"
    assert [t.tier_id for t in first.tiers] == ["1"]
    assert [t.tier_id for t in second.tiers] == ["2"]
    # Part 2 starts where part 1 ended: its base is part 1's integration head, so its branch
    # carries part 1's commits under its own.
    assert second.base_commit == _git(root, "rev-parse", f"autopack/{first.run_id}")
    assert second.base_branch == first.base_branch == "main"
    history = _git(
        root,
        "log",
        "--format=%(trailers:key=Autopack-Phase,valueonly)",
        f"autopack/{second.run_id}",
    ).split()
    assert history == ["2.2", "2.1", "1.2", "1.1"]
    assert f"part 1/2: run {first.run_id} ended DONE_SUCCESS" in result.output
    assert f"part 2/2: run {second.run_id} ended DONE_SUCCESS" in result.output
    # Each part is a normal run with its own summary, which says where it stands in the chain.
    first_summary, second_summary = (
        (root / ".autonomous_runs" / run.run_id / "RUN_SUMMARY.md").read_text()
        for run in (first, second)
    )
    assert "- Chain: part 1 of 2 of" in first_summary
    assert "the next part starts only if this one ends DONE_SUCCESS" in first_summary
    assert (
        f"- Chain: part 2 of 2 of `chain-{first.run_id.removeprefix('run-')}`, after run `{first.run_id}`"
        in second_summary
    )

    chain = _status(root, first.run_id)["chain"]
    assert (chain["part"], chain["of"]) == (1, 2)
    assert chain["previous_run_id"] is None
    assert chain["next_run_id"] == second.run_id
    assert chain["not_started"] == []
    assert _status(root, second.run_id)["chain"]["previous_run_id"] == first.run_id
    text = _cli(root, "status", second.run_id).output
    assert f"part 2 of 2 of chain {chain['chain_id']}" in text
    assert f"previous part: {first.run_id}" in text

    # Part 2's branch carries part 1's commits: promoting it needs part 1 eligible too.
    _await_approval(root, first.run_id, "1.1")
    refused = _cli(root, "promote", second.run_id)
    assert refused.exit_code != 0
    assert (
        f"its branch carries part 1 (run {first.run_id}), which is not eligible" in refused.output
    )
    assert _cli(root, "approve", first.run_id, "1.1").exit_code == 0
    promoted = _cli(root, "promote", second.run_id)
    assert promoted.exit_code == 0, promoted.output
    landed = _git(root, "log", "--format=%(trailers:key=Autopack-Phase,valueonly)", "main").split()
    assert landed == ["2.2", "2.1", "1.2", "1.1"]


def _await_approval(root: Path, run_id: str, phase_id: str) -> None:
    """As if the phase had committed waiting for a person's approval (auto_apply = false)."""
    database = open_database(database_url_for(root, {}))
    try:
        set_phase_approval(database, run_id, phase_id, Approval.PENDING)
    finally:
        database.close()


class NotingBuilder:
    """Every phase's Builder notes a minor issue (with none tolerated, part 1 fails); keeps the
    phases it was asked about."""

    def __init__(self) -> None:
        self.phases: set[str] = set()

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        task = next((m["content"] for m in request["messages"] if m["role"] == "user"), "")
        self.phases |= {p for p in ("1.1", "1.2", "2.1", "2.2") if f"# Phase {p}:" in task}
        answered = sum(1 for m in request["messages"] if m["role"] == "tool")
        auditor = "report" in json.dumps(request.get("tools", []))
        if not auditor and answered >= 1:
            note = {"issue_key": "docs:no-example", "summary": "no example", "severity": "minor"}
            finish = {"summary": "done", "suggested_issues": [note]}
            return Reply(tool_calls=(ToolCall(name="finish", arguments=finish),))
        return demo_reply(api, request)


def test_when_the_first_part_fails_the_second_never_starts_and_the_cli_says_why(
    tmp_path: Path, key_in_env: None
) -> None:
    root = tmp_path / "calc"
    config = TWO_PARTS + "minor_issues_per_phase = 0\n"
    builder = NotingBuilder()
    with fake_llm_server(builder) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + config)
        result = _cli(root, "run", str(plan))
    assert result.exit_code == 10, result.output
    [first] = _runs(root)
    assert first.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW
    assert f"the chain stopped at part 1/2 (run {first.run_id})" in result.output
    assert "DONE_FAILED_REQUIRES_HUMAN_REVIEW" in result.output
    assert "part(s) 2 were not started" in result.output
    assert builder.phases == {"1.1"}  # the run ended after 1.1; tier 2 was never asked for
    assert _git(root, "branch", "--list", "autopack/*").split() == [f"autopack/{first.run_id}"]
    chain = _status(root, first.run_id)["chain"]
    assert (chain["part"], chain["of"], chain["next_run_id"]) == (1, 2, None)
    assert chain["not_started"] == [2]
    assert "part 2 not started: 2 phase(s) in tier(s) 2" in _cli(root, "status").output


def test_resume_of_a_part_finishes_it_and_carries_the_chain_on(
    tmp_path: Path, key_in_env: None
) -> None:
    root = tmp_path / "calc"
    with fake_llm_server(demo_reply) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + TWO_PARTS)
        # As if `autopack run` was killed once the chain and its first part existed.
        first_id = create_run(load_settings(root), plan, RunOptions(), split=True)
        assert [run.run_id for run in _runs(root)] == [first_id]
        result = _cli(root, "resume", first_id)
    assert result.exit_code == 0, result.output
    first, second = _runs(root)
    assert first.run_id == first_id
    assert [first.state, second.state] == [RunState.DONE_SUCCESS, RunState.DONE_SUCCESS]
    assert second.base_commit == _git(root, "rev-parse", f"autopack/{first.run_id}")
    # Resuming a finished part again starts nothing new.
    again = _cli(root, "resume", first_id)
    assert again.exit_code == 0, again.output
    assert len(_runs(root)) == 2


def test_resume_after_a_part_ended_starts_the_next_part_the_crash_never_created(
    tmp_path: Path, key_in_env: None
) -> None:
    root = tmp_path / "calc"
    with fake_llm_server(demo_reply) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + TWO_PARTS)
        settings = load_settings(root)
        # As if `autopack run` died right after part 1 ended, before it created part 2.
        first_id = create_run(settings, plan, RunOptions(), split=True)
        assert execute_run(settings, first_id, RunOptions()).state is RunState.DONE_SUCCESS
        assert len(_runs(root)) == 1
        result = _cli(root, "resume", first_id)
    assert result.exit_code == 0, result.output
    first, second = _runs(root)
    assert second.state is RunState.DONE_SUCCESS
    assert second.plan_title == "Calculator (part 2/2)"
    assert second.base_commit == _git(root, "rev-parse", f"autopack/{first.run_id}")


def test_preflight_covers_every_part_before_the_first_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_in_env: None
) -> None:
    # Only part 2's security phase routes to `top`, whose key is not set.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY_FILE", raising=False)
    root = tmp_path / "calc"
    with fake_llm_server(demo_reply) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + TWO_PARTS)
        config = root / "autopack.toml"
        config.write_text(
            config.read_text().replace('top = "openai-standard"', 'top = "anthropic-top"')
        )
        result = _cli(root, "run", str(plan))
        assert sum(server.calls_per_model.values()) == 0
    assert result.exit_code == ConfigError.exit_code, result.output
    assert "ANTHROPIC_API_KEY is not set (alias anthropic-top)" in result.output
    assert _runs(root) == []
    assert _git(root, "branch", "--list", "autopack/*") == ""


@pytest.fixture
def idle_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API on the demo project split in two parts, with no worker."""
    yield from start_api(tmp_path, None, monkeypatch, run_worker=False, extra_config=TWO_PARTS)


def test_the_api_shows_a_parts_place_in_its_chain_and_refuses_to_start_a_chain(
    idle_api: Api,
) -> None:
    plan = idle_api.root / "comprehensive_plan.md"
    first = create_run(load_settings(idle_api.root), plan, RunOptions(), split=True)
    with idle_api.client("read") as client:
        chain = client.get(f"/runs/{first}").json()["chain"]
    assert (chain["part"], chain["of"], chain["not_started"]) == (1, 2, [2])
    assert chain["parts"][1]["tier_ids"] == ["2"]
    # A worker runs one run: over the API a plan over the cap is refused, as before.
    with idle_api.client() as client:
        refused = client.post("/runs", json={"plan": "comprehensive_plan.md"})
    assert refused.status_code == 422, refused.text
    assert "more than run.max_phases 2" in refused.text
