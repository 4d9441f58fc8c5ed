"""A pydantic-ai agent on the real SDKs, through the fake servers: every request reserved, settled, recorded."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError

from autopack.domain.vocabulary import Role
from autopack.llm.aliases import ModelAlias, default_aliases
from autopack.llm.budget import Amount, BudgetExhausted, BudgetLedger, Cap, Level
from autopack.llm.budgeted import BudgetedModel, CallContext
from autopack.llm.providers import build_model
from autopack.llm.recorders import DatabaseRecorder
from autopack.llm.redact import Redactor
from autopack.store.engine import Database
from autopack.store.ledger import ledger_for_run, ledger_totals
from autopack.store.runs import create_run
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, alias_on, fake_llm_server
from autopack.testing.runs import blueprint

SCOPES = ((Level.RUN, "run-1"), (Level.TIER, "1"), (Level.PHASE, "a"))
CONTEXT_1_1 = CallContext(run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="1.1", attempt=1)
CONTEXT = CallContext(run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="a", attempt=1)


def agent_on(
    server: FakeLLMServer, alias_name: str, ledger: BudgetLedger, database: Database
) -> Agent[None, str]:
    alias = alias_on(server, alias_name)
    model = BudgetedModel(
        build_model(alias_name, alias, "test-key"),
        alias_name=alias_name,
        alias=alias,
        ledger=ledger,
        scopes=SCOPES,
        context=CONTEXT,
        recorder=DatabaseRecorder(database),
    )
    return Agent(model)


@pytest.fixture
def run_database(database: Database) -> Database:
    create_run(database, blueprint())
    return database


@pytest.mark.parametrize("alias_name", ["openai-standard", "anthropic-standard"])
def test_agent_calls_are_billed_once_and_match_the_servers_bill(
    alias_name: str, run_database: Database
) -> None:
    script = [
        Reply(
            tool_calls=(ToolCall(name="lookup", arguments={"term": "budget"}),),
            input_tokens=300,
            output_tokens=20,
        ),
        Reply(text="The answer is 42.", input_tokens=400, cached_input_tokens=100, output_tokens=8),
    ]
    ledger = BudgetLedger()
    with fake_llm_server(script) as server:
        agent = agent_on(server, alias_name, ledger, run_database)

        @agent.tool_plain
        def lookup(term: str) -> str:
            return f"{term} means a cap"

        result = agent.run_sync("What is a budget?")
    assert result.output == "The answer is 42."
    assert len(server.bills) == 2
    assert ledger.spent(SCOPES[0]).tokens == server.billed_tokens() == 728
    alias = default_aliases()[alias_name]
    expected_usd = alias.cost_usd(300, 0, 20) + alias.cost_usd(400, 100, 8)
    totals = ledger_totals(run_database, "run-1")
    assert (totals.calls, totals.tokens, totals.usd) == (2, 728, expected_usd)
    assert ledger.spent(SCOPES[2]).usd == expected_usd
    assert [call.outcome for call in ledger_for_run(run_database, "run-1")] == ["ok", "ok"]


def test_a_request_no_level_can_cover_is_never_sent(run_database: Database) -> None:
    ledger = BudgetLedger()
    ledger.set_cap(SCOPES[2], Cap(usd=Decimal("0.01")))
    with fake_llm_server([Reply(text="never")]) as server:
        agent = agent_on(server, "openai-top", ledger, run_database)
        with pytest.raises(BudgetExhausted) as caught:
            agent.run_sync("hello")
    assert caught.value.level is Level.PHASE
    assert server.calls_per_model.total() == 0
    assert ledger_totals(run_database, "run-1").calls == 0
    assert ledger.reserved(SCOPES[2]).tokens == 0


def test_failed_requests_release_their_reservation_and_are_recorded(run_database: Database) -> None:
    ledger = BudgetLedger()
    with fake_llm_server([Reply(fault="invalid_key")] * 5) as server:
        agent = agent_on(server, "openai-fast", ledger, run_database)
        with pytest.raises(ModelHTTPError):
            agent.run_sync("hello")
    assert ledger.reserved(SCOPES[0]).tokens == 0
    assert ledger.spent(SCOPES[0]).tokens == 0
    calls = ledger_for_run(run_database, "run-1")
    assert [call.outcome for call in calls] == ["error"]
    assert calls[0].usd == Decimal(0)


def test_free_local_models_cost_nothing(run_database: Database) -> None:
    ledger = BudgetLedger()
    with fake_llm_server(
        [Reply(text="local", input_tokens=50, output_tokens=5)], valid_keys=("not-needed",)
    ) as server:
        local = ModelAlias.model_validate(
            {**default_aliases()["local"].model_dump(), "base_url": server.openai_base_url}
        )
        model = BudgetedModel(
            build_model("local", local, None),
            alias_name="local",
            alias=local,
            ledger=ledger,
            scopes=SCOPES,
            context=CONTEXT,
            recorder=DatabaseRecorder(run_database),
        )
        assert Agent(model).run_sync("hi").output == "local"
    assert ledger.spent(SCOPES[0]).usd == Decimal(0)
    assert ledger.spent(SCOPES[0]).tokens == 55


FAKE_KEY = "sk-ant-api03-RECOGNISABLE-FAKE-KEY-0123456789"


def test_transcripts_are_redacted_and_linked_and_no_file_holds_the_key(git_repo: Path) -> None:
    from autopack.config import load_settings
    from autopack.llm.keys import redactor_for
    from autopack.llm.transcripts import TranscriptWriter
    from autopack.plan.load import load_plan
    from autopack.run.create import create_run_from_plan
    from autopack.store.engine import database_url_for, open_database

    example = Path(__file__).resolve().parents[2] / "examples" / "comprehensive_plan.md"
    settings = load_settings(git_repo)
    database = open_database(database_url_for(git_repo, {}))
    create_run_from_plan(settings, database, load_plan(example), run_id="run-1")
    env = {"ANTHROPIC_API_KEY": FAKE_KEY}
    writer = TranscriptWriter(settings.runs_dir, "run-1", redactor_for(default_aliases(), env))
    with fake_llm_server([Reply(text=f"I was told {FAKE_KEY}")], valid_keys=(FAKE_KEY,)) as server:
        alias = default_aliases()["anthropic-fast"].model_copy(
            update={"base_url": server.anthropic_base_url}
        )
        model = BudgetedModel(
            build_model("anthropic-fast", alias, FAKE_KEY),
            alias_name="anthropic-fast",
            alias=alias,
            ledger=BudgetLedger(),
            scopes=SCOPES,
            context=CONTEXT_1_1,
            recorder=DatabaseRecorder(database),
            transcripts=writer,
        )
        Agent(model).run_sync(f"my key is {FAKE_KEY}, keep it safe")
    [call] = ledger_for_run(database, "run-1")
    assert call.transcript is not None
    transcript = Path(call.transcript).read_text()
    assert "[REDACTED]" in transcript
    assert "keep it safe" in transcript
    database.close()
    leaking = [
        path
        for path in git_repo.rglob("*")
        if path.is_file() and ".git" not in path.parts and FAKE_KEY.encode() in path.read_bytes()
    ]
    assert leaking == []


def test_a_restarted_run_counts_what_it_already_spent(run_database: Database) -> None:
    from autopack.llm.budget import scopes_of
    from autopack.llm.recorders import ledger_from_database

    ledger = BudgetLedger()
    with fake_llm_server([Reply(text="first", input_tokens=700, output_tokens=300)]) as server:
        agent_on(server, "openai-standard", ledger, run_database).run_sync("one")
    resumed = ledger_from_database(run_database, "run-1", BudgetLedger())
    assert resumed.spent(SCOPES[0]) == ledger.spent(SCOPES[0])
    assert resumed.spent((Level.ATTEMPT, "a#1")).tokens == 1000
    assert scopes_of("run-1", "1", "a", 1)[:3] == SCOPES
    resumed.set_cap(SCOPES[0], Cap(tokens=1_500))
    with pytest.raises(BudgetExhausted):
        resumed.reserve(SCOPES, Amount(tokens=600))


def test_transcript_writers_of_one_run_never_overwrite_each_other(tmp_path: Path) -> None:
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    from autopack.llm.transcripts import TranscriptWriter

    def writer() -> TranscriptWriter:
        return TranscriptWriter(tmp_path, "run-1", Redactor())

    asked = [ModelRequest(parts=[UserPromptPart(content="hello")])]
    # One writer per phase attempt, and a fresh one in the process that resumes the run.
    first, second = writer(), writer()
    paths = [
        first.write("fast", "m", asked, None, "e1"),
        second.write("fast", "m", asked, None, "e2"),
        first.write("top", "m", asked, None, "e3"),
        writer().write("fast", "m", asked, None, "e4"),
    ]
    assert [path.name for path in paths] == [
        "00001-fast.json",
        "00002-fast.json",
        "00003-top.json",
        "00004-fast.json",
    ]
    assert [json.loads(path.read_text())["error"] for path in paths] == ["e1", "e2", "e3", "e4"]
