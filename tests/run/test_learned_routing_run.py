"""[routing] policy learned on a real run: the project's record moves a phase's Builder to a
cheaper alias that has proven itself, the strategy freezes that choice with its reason, and the
run calls that model; under policy static the same record changes nothing.

The demo project's phase 1.1 (feature, low) has the static Builder openai-standard. The seeded
record: openai-standard committed 6 of 10 feature/low phases, openai-fast 12 of 12 at a tenth of
the cost (Wilson lower bounds at 95%: 0.76 >= 0.31).
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import PLAN, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Complexity, Role, TaskCategory
from autopack.run.create import strategy_path
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_for_run
from autopack.testing.fake_llm import Reply, Script, ToolCall, fake_llm_server
from autopack.testing.model_history import PastAttempt, PastPhase, seed_run

# Phase 1.1 of the demo plan alone.
PHASE_1_1 = PLAN[: PLAN.index("### Phase 1.2")]


pytestmark = pytest.mark.usefixtures("own_database")


def _history(cheap: str = "openai-fast") -> list[PastPhase]:
    def phase(phase_id: str, alias: str, usd: str, committed: bool) -> PastPhase:
        attempt = PastAttempt(alias, 30_000, 3_000, Decimal(usd))
        return PastPhase(phase_id, TaskCategory.FEATURE, Complexity.LOW, (attempt,), committed)

    return [phase(f"s{n}", "openai-standard", "0.10", n < 6) for n in range(10)] + [
        phase(f"f{n}", cheap, "0.01", True) for n in range(12)
    ]


def _run(
    root: Path,
    policy: str,
    script: Script = demo_reply,
    extra_config: str = "",
    cheap: str = "openai-fast",
) -> tuple[RunState, dict[str, object], list[str], dict[str, int]]:
    """The run's end, phase 1.1's frozen Builder route, the models of its Builder's ledger rows,
    and the calls the fake provider received per model."""
    with fake_llm_server(script) as server:
        extra = extra_config.replace("FAKE_URL", server.openai_base_url)
        create_project(root, extra_config=aliases_on(server.openai_base_url) + extra)
        config = root / "autopack.toml"
        # The demo's own [routing] table gets the policy.
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[routing]\n", f'[routing]\npolicy = "{policy}"\n', 1), encoding="utf-8"
        )
        plan = root / "plan.md"
        plan.write_text(PHASE_1_1, encoding="utf-8")
        settings = load_settings(root)
        database = open_database(settings.database_url)
        try:
            seed_run(
                database,
                settings.aliases,
                project_id=settings.project.id,
                run_id="run-history",
                phases=_history(cheap),
            )
        finally:
            database.close()
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, plan, options)
        end = execute_run(settings, run_id, options)
        received = dict(server.calls_per_model)
    frozen = json.loads(strategy_path(settings.runs_dir, run_id).read_text(encoding="utf-8"))
    phase = frozen["tiers"][0]["phases"][0]
    database = open_database(settings.database_url)
    try:
        rows = ledger_for_run(database, run_id)
    finally:
        database.close()
    builder_models = [row.model for row in rows if row.role is Role.BUILDER]
    return end.state, phase["routes"]["builder"], builder_models, received


def test_learned_routing_runs_the_proven_cheaper_alias(tmp_path: Path) -> None:
    state, route, builder_models, received = _run(tmp_path / "calc", "learned")
    assert state is RunState.DONE_SUCCESS
    assert route["policy"] == "learned"
    assert route["alias"] == "openai-fast"
    assert route["static_alias"] == "openai-standard"
    assert str(route["reason"]).startswith(
        "openai-fast $0.0100/successful phase over 12 feature/low phases (success 12/12, "
        "95% lower bound 0.76 >= openai-standard's 0.31), cheaper than openai-standard "
        "$0.1667/successful phase"
    )
    assert builder_models
    assert set(builder_models) == {"gpt-6-luna"}  # openai-fast's model
    assert "gpt-6.1-sol" not in received  # openai-standard was never asked


def test_under_policy_static_the_same_record_changes_nothing(tmp_path: Path) -> None:
    state, route, builder_models, received = _run(tmp_path / "calc", "static")
    assert state is RunState.DONE_SUCCESS
    assert route == {
        "policy": "static",
        "alias": "openai-standard",
        "static_alias": "openai-standard",
        "reason": "routing table: builder at low complexity -> standard",
    }
    assert builder_models
    assert set(builder_models) == {"gpt-6.1-sol"}
    assert received.get("gpt-6.1-sol", 0) >= 1


# An alias of the project's own, on no level of the table: the learned choice, off the ladder.
CHEAP_CODER = """
[models.aliases.cheap-coder]
provider = "openai"
model = "cheap-coder-1"
base_url = "FAKE_URL"
api_key_env = "OPENAI_API_KEY"
price_input_per_mtok = 0.05
price_output_per_mtok = 0.25
"""


def test_an_attempt_without_progress_escalates_from_the_learned_alias_to_the_tables(
    tmp_path: Path,
) -> None:
    first_builder_requests: list[str] = []

    def lazy_first_attempt(api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "# Phase 1.1:" in task and "report" not in json.dumps(request.get("tools", [])):
            if not any(m["role"] == "tool" for m in request["messages"]):
                first_builder_requests.append(request["model"])
            if "This is attempt" not in task:
                return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "nah"}),))
        return demo_reply(api, request)

    state, route, builder_models, _ = _run(
        tmp_path / "calc",
        "learned",
        script=lazy_first_attempt,
        extra_config=CHEAP_CODER,
        cheap="cheap-coder",
    )
    assert state is RunState.DONE_SUCCESS
    assert route["alias"] == "cheap-coder"
    # Attempt 1 on the learned alias made no progress; attempt 2 went to the table's choice.
    assert first_builder_requests == ["cheap-coder-1", "gpt-6.1-sol"]
    assert builder_models[0] == "cheap-coder-1"
    assert builder_models[-1] == "gpt-6.1-sol"
