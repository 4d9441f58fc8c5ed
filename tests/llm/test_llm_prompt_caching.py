"""Prompt caching through the real model stack (run/services.budgeted_model: resilient -> budgeted
-> official SDK) against fake providers that count input from each request and bill caching as
the providers do: the ledger's tokens and USD equal the provider's bill, call by call."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.models import Model

from autopack.config import Settings, load_settings
from autopack.domain.vocabulary import Role
from autopack.llm.budget import BudgetLedger
from autopack.llm.budgeted import CallContext
from autopack.llm.recorders import DatabaseRecorder
from autopack.llm.resilience import CircuitBreakers
from autopack.run.services import RunOptions, budgeted_model
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, ledger_for_run
from autopack.store.runs import create_run
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, fake_llm_server
from autopack.testing.runs import blueprint

# Long, stable instructions (about 3,000 tokens): past every model's minimum cacheable prefix.
INSTRUCTIONS = "You are a careful engineer. " + " ".join(
    f"Rule {n}: read the file before editing it, keep changes small, and run the tests."
    for n in range(180)
)
KEYS = {"ANTHROPIC_API_KEY": "test-key", "OPENAI_API_KEY": "test-key"}
CONTEXT = CallContext(run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="p1", attempt=1)


@pytest.fixture
def run_database(database: Database) -> Database:
    create_run(database, blueprint())
    return database


def settings_on(root: Path, server: FakeLLMServer, alias_name: str, extra: str = "") -> Settings:
    base = (
        server.anthropic_base_url if alias_name.startswith("anthropic") else server.openai_base_url
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "autopack.toml").write_text(
        f'[models.aliases.{alias_name}]\nbase_url = "{base}"\n{extra}', encoding="utf-8"
    )
    return load_settings(root)


def model_on(settings: Settings, alias_name: str, database: Database) -> Model:
    return budgeted_model(
        alias_name,
        settings=settings,
        options=RunOptions(),
        env=KEYS,
        ledger=BudgetLedger(),
        context=CONTEXT,
        recorder=DatabaseRecorder(database),
        transcripts=None,
        breakers=CircuitBreakers(),
    )


def read_file(path: str) -> str:
    """Read a file of the worktree."""
    return f"contents of {path}: " + "def handler(request):\n    return respond(request)\n" * 40


def agent(model: Model) -> Agent[None, str]:
    return Agent(model, instructions=INSTRUCTIONS, tools=[read_file])


def tool_steps(steps: int) -> list[Reply]:
    """A Builder-like conversation: `steps` file reads, then an answer."""
    reads = [
        Reply(tool_calls=(ToolCall(name="read_file", arguments={"path": f"src/m{n}.py"}),))
        for n in range(steps)
    ]
    return [*reads, Reply(text="Done.")]


def assert_billed_exactly(
    rows: list[LlmCallRecord], server: FakeLLMServer, settings: Settings
) -> None:
    assert len(rows) == len(server.bills)
    for row, bill in zip(rows, server.bills, strict=True):
        assert (row.input_tokens, row.cached_input_tokens, row.cache_write_tokens) == (
            bill.input_tokens,
            bill.cached_input_tokens,
            bill.cache_write_tokens,
        )
        assert row.output_tokens == bill.output_tokens
    assert sum(row.usd for row in rows) == server.billed_usd(settings.aliases)


@pytest.mark.parametrize("alias_name", ["anthropic-standard", "openai-standard"])
def test_a_cached_second_call_is_cheaper_and_billed_exactly(
    alias_name: str, run_database: Database, tmp_path: Path
) -> None:
    with fake_llm_server(tool_steps(3), usage_from_request=True) as server:
        settings = settings_on(tmp_path / "project", server, alias_name)
        agent(model_on(settings, alias_name, run_database)).run_sync("Fix the handler.")
    rows = ledger_for_run(run_database, "run-1")
    assert len(rows) == 4
    assert rows[0].cached_input_tokens == 0
    assert all(row.cached_input_tokens > 0 for row in rows[1:])
    alias = settings.aliases[alias_name]
    for row in rows[1:]:
        uncached = alias.cost_usd(row.input_tokens, 0, row.output_tokens)
        assert row.usd < uncached / 2  # most of each later prompt is read at the cached price
    if alias_name.startswith("anthropic"):
        assert rows[0].cache_write_tokens > 0  # the first call writes at the premium
        assert rows[0].usd > alias.cost_usd(rows[0].input_tokens, 0, rows[0].output_tokens)
    assert_billed_exactly(rows, server, settings)


@pytest.mark.parametrize("alias_name", ["anthropic-standard", "openai-standard"])
def test_caching_off_sends_no_cache_marks_and_pays_full_price_for_the_same_calls(
    alias_name: str, run_database: Database, tmp_path: Path
) -> None:
    spent: dict[bool, Decimal] = {}
    sent: dict[bool, list[dict[str, object]]] = {}
    for caching in (False, True):
        with fake_llm_server(tool_steps(6), usage_from_request=True) as server:
            extra = "" if caching else "prompt_caching = false\n"
            settings = settings_on(tmp_path / str(caching), server, alias_name, extra)
            agent(model_on(settings, alias_name, run_database)).run_sync("Fix the handler.")
            spent[caching] = server.billed_usd(settings.aliases)
            sent[caching] = server.requests
    rows = ledger_for_run(run_database, "run-1")
    assert sum(row.usd for row in rows) == spent[False] + spent[True]
    if alias_name.startswith("anthropic"):
        # Anthropic caches only where a request marks a breakpoint.
        assert spent[True] < spent[False] * Decimal("0.6")
        first = sent[True][0]
        assert first["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
        assert "cache_control" in first["tools"][-1]  # type: ignore[index]
        assert "cache_control" in first["system"][-1]  # type: ignore[index]
        assert all("cache_control" not in str(request) for request in sent[False])
    else:
        # OpenAI caches repeated prefixes unasked; the key only keeps a conversation on one cache.
        assert spent[True] == spent[False]
        keys = {request.get("prompt_cache_key") for request in sent[True]}
        assert len(keys) == 1
        assert str(keys.pop()).startswith("autopack-")
        assert all("prompt_cache_key" not in request for request in sent[False])


def test_an_expired_cache_entry_is_written_again(run_database: Database, tmp_path: Path) -> None:
    now = [0.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    replies = [Reply(text="one"), Reply(text="two"), Reply(text="three"), Reply(text="four")]
    with fake_llm_server(replies, usage_from_request=True, clock=clock) as server:
        settings = settings_on(tmp_path / "p", server, "anthropic-standard")
        model = model_on(settings, "anthropic-standard", run_database)
        agent(model).run_sync("First task.")
        now[0] += 299  # within the 5-minute TTL: read, and the read refreshes it
        agent(model).run_sync("Second task.")
        now[0] += 299
        agent(model).run_sync("Third task.")
        now[0] += 301  # past it: written again
        agent(model).run_sync("Fourth task.")
    rows = ledger_for_run(run_database, "run-1")
    assert [row.cached_input_tokens > 0 for row in rows] == [False, True, True, False]
    # Within the TTL only the new task is written; past it, the whole prefix again.
    writes = [row.cache_write_tokens for row in rows]
    assert writes[1] < 50
    assert writes[2] < 50
    assert writes[3] == writes[0] > 2_000
    assert_billed_exactly(rows, server, settings)


def test_a_one_hour_ttl_is_asked_for_kept_an_hour_and_billed_at_twice_the_input_price(
    run_database: Database, tmp_path: Path
) -> None:
    now = [0.0]
    replies = [Reply(text="one"), Reply(text="two")]
    with fake_llm_server(replies, usage_from_request=True, clock=lambda: now[0]) as server:
        settings = settings_on(tmp_path / "p", server, "anthropic-top", 'cache_ttl = "1h"\n')
        model = model_on(settings, "anthropic-top", run_database)
        agent(model).run_sync("First task.")
        now[0] += 3000
        agent(model).run_sync("Second task.")
    assert server.requests[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    first, second = ledger_for_run(run_database, "run-1")
    assert server.bills[0].cache_write_1h_tokens == first.cache_write_tokens > 0
    assert second.cached_input_tokens > 0
    assert_billed_exactly([first, second], server, settings)


def test_each_conversation_has_its_own_stable_cache_key_naming_nothing_else() -> None:
    from autopack.llm.aliases import default_aliases
    from autopack.llm.caching import conversation_cache_key, openai_cache_settings

    first = conversation_cache_key("run-7", "builder", "1.1", 1)
    assert first == conversation_cache_key("run-7", "builder", "1.1", 1)
    others = {
        conversation_cache_key("run-7", "builder", "1.1", 2),
        conversation_cache_key("run-7", "auditor", "1.1", 1),
        conversation_cache_key("run-8", "builder", "1.1", 1),
    }
    assert first not in others
    assert len(others) == 3
    assert "run-7" not in first
    assert len(first) <= 64  # OpenAI's limit on prompt_cache_key
    assert openai_cache_settings(default_aliases()["local"], first) is None
