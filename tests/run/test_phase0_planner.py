"""A free-form plan is rewritten by the planner (real OpenAI SDK, fake server) and then run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import PLAN, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Role
from autopack.errors import PlanError
from autopack.run.execute import create_run, execute_run
from autopack.run.phase0 import NORMALISED_PLAN_FILE
from autopack.run.services import RunOptions
from autopack.store.engine import database_url_for, open_database
from autopack.store.ledger import ledger_for_run
from autopack.store.runs import list_runs
from autopack.testing.fake_llm import FakeLLMServer, Reply, fake_llm_server

FREE_FORM = """We have a calculator that can only add. Please give it subtraction and
multiplication first, each with a unit test. After that, division that refuses to divide by
zero with a clear ValueError, and finally document every operation in the README.
"""


class Planner:
    """Answers planner requests with `answers` in turn and everything else as the demo developer."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if task.startswith("Plan to rewrite"):
            self.asked.append(str(request["messages"][-1]["content"]))
            return Reply(text=self.answers.pop(0))
        return demo_reply(api, request)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def _project(root: Path, server: FakeLLMServer) -> Path:
    create_project(root, extra_config=aliases_on(server.openai_base_url))
    wish = root / "wish.txt"
    wish.write_text(FREE_FORM)
    subprocess.run(["git", "-C", str(root), "add", "wish.txt"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "wish"], check=True)
    return wish


def _runs(root: Path) -> list[str]:
    database = open_database(database_url_for(root, {}))
    try:
        return [run.run_id for run in list_runs(database)]
    finally:
        database.close()


def test_a_free_form_plan_is_normalised_then_run_to_success(tmp_path: Path, env: None) -> None:
    planner = Planner("Sure! Here is a plan: do the operations.", f"```markdown\n{PLAN}```")
    with fake_llm_server(planner) as server:
        root = tmp_path / "calc"
        wish = _project(root, server)
        settings = load_settings(root)
        run_id = create_run(settings, wish, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
    assert end.state is RunState.DONE_SUCCESS, end.message
    # The first answer did not parse; the parser's words went back to the model.
    assert len(planner.asked) == 2
    assert "does not parse" in planner.asked[1]
    normalised = (settings.runs_dir / run_id / NORMALISED_PLAN_FILE).read_text()
    assert "### Phase 2.1: Division that refuses zero" in normalised
    database = open_database(database_url_for(root, {}))
    calls = ledger_for_run(database, run_id)
    database.close()
    planner_calls = [call for call in calls if call.role is Role.PLANNER]
    assert len(planner_calls) == 2
    assert all(call.phase_id is None and call.usd > 0 for call in planner_calls)
    # Builders: two calls for each of four phases; one Auditor call.
    assert len(calls) == 2 + 9


def test_a_planner_that_never_answers_a_valid_plan_creates_no_run(
    tmp_path: Path, env: None
) -> None:
    planner = Planner("just do it", "## Tier 1: x\n\n### Phase 1.1\n")
    with fake_llm_server(planner) as server:
        root = tmp_path / "calc"
        wish = _project(root, server)
        with pytest.raises(
            PlanError, match="planner could not turn it into the plan format"
        ) as error:
            create_run(load_settings(root), wish, RunOptions())
    assert "did not parse" in str(error.value)
    assert str(wish) in str(error.value)
    assert len(planner.asked) == 2
    assert _runs(root) == []
    # The two paid calls are not lost with the run that never was.
    assert "the planner's 2 paid call(s)" in str(error.value)
    [kept] = (root / ".autonomous_runs").glob("*/planner_calls.json")
    calls = json.loads(kept.read_text())
    assert [call["role"] for call in calls] == ["planner", "planner"]
    assert all(float(call["usd"]) > 0 for call in calls)


def test_a_normalised_plan_over_the_phase_cap_keeps_the_planners_calls(
    tmp_path: Path, env: None
) -> None:
    planner = Planner(PLAN)
    with fake_llm_server(planner) as server:
        root = tmp_path / "calc"
        wish = _project(root, server)
        config = root / "autopack.toml"
        config.write_text(config.read_text() + "\n[ruleset.run]\nmax_phases = 2\n")
        with pytest.raises(PlanError, match=r"more than run\.max_phases 2") as error:
            create_run(load_settings(root), wish, RunOptions())
    assert "the planner's 1 paid call(s)" in str(error.value)
    assert _runs(root) == []


def test_a_plan_in_the_format_with_a_mistake_gets_the_parser_error_not_the_planner(
    tmp_path: Path, env: None
) -> None:
    planner = Planner()
    with fake_llm_server(planner) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        broken = root / "broken.md"
        broken.write_text("# Plan\n\n## Tier 1: x\n\n### Phase 1.1: y\ncategory: nonsense\n")
        with pytest.raises(PlanError, match="category"):
            create_run(load_settings(root), broken, RunOptions())
        assert sum(server.calls_per_model.values()) == 0
    assert planner.asked == []
