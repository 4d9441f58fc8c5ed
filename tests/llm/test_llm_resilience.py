"""Retries, breakers and fallbacks against the fake servers, ending in a fault storm."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
from pydantic_ai import Agent

from autopack.domain.vocabulary import Role
from autopack.llm.aliases import default_aliases
from autopack.llm.budget import Amount, BudgetExhausted, BudgetLedger, Cap, Level
from autopack.llm.budgeted import BudgetedModel, CallContext
from autopack.llm.providers import build_model
from autopack.llm.recorders import DatabaseRecorder
from autopack.llm.resilience import (
    CircuitBreakers,
    LLMEvent,
    ProviderUnavailable,
    ResilientModel,
    RetryPolicy,
)
from autopack.store.engine import Database
from autopack.store.ledger import ledger_totals
from autopack.store.runs import create_run
from autopack.testing.fake_llm import FakeLLMServer, Reply, fake_llm_server
from autopack.testing.runs import blueprint

SCOPES = ((Level.RUN, "run-1"), (Level.TIER, "1"), (Level.PHASE, "a"))
CONTEXT = CallContext(run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="a", attempt=1)
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_total_wait=2.0)


@pytest.fixture
def run_database(tmp_path: object) -> Database:
    from pathlib import Path

    from autopack.store.engine import open_database

    database = open_database(f"sqlite:///{Path(str(tmp_path)) / 'db.sqlite'}")
    create_run(database, blueprint())
    return database


def budgeted(
    server: FakeLLMServer, name: str, ledger: BudgetLedger, database: Database, timeout: float = 5.0
) -> BudgetedModel:
    alias = default_aliases()[name]
    url = (
        server.anthropic_base_url if alias.provider.value == "anthropic" else server.openai_base_url
    )
    alias = alias.model_copy(update={"base_url": url})
    return BudgetedModel(
        build_model(name, alias, "test-key", timeout=timeout),
        alias_name=name,
        alias=alias,
        ledger=ledger,
        scopes=SCOPES,
        context=CONTEXT,
        recorder=DatabaseRecorder(database),
    )


def resilient(
    chain: list[BudgetedModel],
    events: list[LLMEvent],
    breakers: CircuitBreakers | None = None,
    policy: RetryPolicy = FAST,
) -> Agent[None, str]:
    return Agent(
        ResilientModel(
            chain,
            breakers=breakers or CircuitBreakers(),
            policy=policy,
            on_event=events.append,
            rng=random.Random(7),
        )
    )


def test_rate_limits_and_server_errors_are_retried_and_reported(run_database: Database) -> None:
    ledger, events = BudgetLedger(), []
    script = [
        Reply(fault="429", retry_after=0.02),
        Reply(fault="500"),
        Reply(fault="503"),
        Reply(text="finally", input_tokens=9, output_tokens=2),
    ]
    with fake_llm_server(script) as server:
        agent = resilient([budgeted(server, "openai-top", ledger, run_database)], events)
        assert agent.run_sync("go").output == "finally"
    assert [e.kind for e in events] == ["retry", "retry", "retry"]
    assert events[0].wait_seconds == pytest.approx(0.02)
    assert ledger.spent(SCOPES[0]).tokens == server.billed_tokens() == 11
    assert ledger_totals(run_database, "run-1").calls == 4


def test_timeouts_are_retried(run_database: Database) -> None:
    ledger, events = BudgetLedger(), []
    with fake_llm_server([Reply(text="late", delay=1.5), Reply(text="on time")]) as server:
        agent = resilient(
            [budgeted(server, "openai-fast", ledger, run_database, timeout=0.3)], events
        )
        assert agent.run_sync("go").output == "on time"
    assert [e.kind for e in events] == ["retry"]
    assert "Timeout" in events[0].detail


def test_terminal_errors_open_the_breaker_and_fall_back(run_database: Database) -> None:
    ledger, events, breakers = BudgetLedger(), [], CircuitBreakers()

    def answer(api: str, request: dict[str, object]) -> Reply:
        return Reply(fault="insufficient_quota") if api == "openai" else Reply(text=f"from {api}")

    with fake_llm_server(answer) as server:
        chain = [
            budgeted(server, "openai-top", ledger, run_database),
            budgeted(server, "anthropic-top", ledger, run_database),
        ]
        agent = resilient(chain, events, breakers)
        assert agent.run_sync("go").output == "from anthropic"
        assert agent.run_sync("again").output == "from anthropic"
        assert server.calls_per_model["claude-opus-5-5"] == 2
    assert [e.kind for e in events] == ["breaker_open", "fallback", "fallback"]
    assert "openai" in breakers.open
    assert server.faults_served["insufficient_quota"] == 1


def test_no_alias_left_names_each_provider_and_error(run_database: Database) -> None:
    ledger, events = BudgetLedger(), []
    with fake_llm_server(lambda api, request: Reply(fault="invalid_key")) as server:
        chain = [
            budgeted(server, "openai-top", ledger, run_database),
            budgeted(server, "anthropic-top", ledger, run_database),
        ]
        with pytest.raises(ProviderUnavailable) as caught:
            resilient(chain, events).run_sync("go")
    message = str(caught.value)
    assert "openai-top (openai)" in message
    assert "anthropic-top (anthropic)" in message
    assert "Authentication" in message
    assert caught.value.reason_code == "environment.provider"


def test_total_wait_is_bounded(run_database: Database) -> None:
    ledger, events = BudgetLedger(), []
    policy = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05, max_total_wait=0.5)
    started = time.monotonic()
    with fake_llm_server(lambda api, request: Reply(fault="429", retry_after=0.3)) as server:
        agent = resilient(
            [budgeted(server, "openai-top", ledger, run_database)], events, policy=policy
        )
        with pytest.raises(ProviderUnavailable, match="gave up after retries"):
            agent.run_sync("go")
    assert time.monotonic() - started < 3
    assert events[-1].kind == "gave_up"
    assert [e.kind for e in events].count("retry") == 1


def test_fault_storm_keeps_the_ledger_equal_to_the_bill_and_under_the_cap(
    run_database: Database,
) -> None:
    """200 calls through mixed 429/5xx/timeouts/garbage/truncation; the ledger matches the server's bill."""
    rng = random.Random(2026)
    faults = ["429", "500", "503", "garbage", "truncated", "slow"]

    def storm(api: str, request: dict[str, object]) -> Reply:
        if rng.random() < 0.35:
            fault = rng.choice(faults)
            return Reply(fault=fault, retry_after=0.01, delay=1.0 if fault == "slow" else 0.0)
        return Reply(
            text="ok",
            input_tokens=rng.randint(50, 400),
            cached_input_tokens=0,
            output_tokens=rng.randint(1, 60),
        )

    ledger, events = BudgetLedger(), []
    cap = Cap(tokens=40_000, usd=Decimal("5"))
    ledger.set_cap(SCOPES[0], cap)
    policy = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01, max_total_wait=5.0)
    answered = refused = 0
    with fake_llm_server(storm) as server:
        chain = [
            # Far above a loaded machine's answer time (a client timing out on an answer the
            # server billed would make the ledger miss it), far below the slow fault's delay.
            budgeted(server, "openai-fast", ledger, run_database, timeout=0.5),
            budgeted(server, "anthropic-fast", ledger, run_database, timeout=0.5),
        ]
        model = ResilientModel(
            chain,
            breakers=CircuitBreakers(),
            policy=policy,
            on_event=events.append,
            rng=random.Random(1),
        )
        agent = Agent(model)
        for number in range(200):
            try:
                agent.run_sync(f"call {number}", model_settings={"max_tokens": 64})
                answered += 1
            except (BudgetExhausted, ProviderUnavailable):
                refused += 1
    spent = ledger.spent(SCOPES[0])
    assert spent.tokens == server.billed_tokens()
    totals = ledger_totals(run_database, "run-1")
    assert totals.tokens == server.billed_tokens()
    worst_single = max(b.input_tokens + b.output_tokens for b in server.bills)
    assert spent.tokens <= cap.tokens + worst_single
    assert ledger.reserved(SCOPES[0]) == Amount()
    assert answered > 50
    assert any(e.kind == "retry" for e in events)
    assert answered + refused == 200
