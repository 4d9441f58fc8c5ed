"""The Builder's record per alias, category and complexity, read from a real store."""

from __future__ import annotations

from decimal import Decimal

from autopack.domain.vocabulary import Complexity, Role, TaskCategory
from autopack.llm.aliases import default_aliases
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, record_llm_call
from autopack.store.model_figures import model_history
from autopack.store.runs import create_run
from autopack.testing.model_history import PastAttempt, PastPhase, seed_run
from autopack.testing.runs import blueprint

ALIASES = default_aliases()
FEATURE, TESTS = TaskCategory.FEATURE, TaskCategory.TESTS
MEDIUM, LOW = Complexity.MEDIUM, Complexity.LOW


def _try(alias: str, usd: str, tokens: int = 1000) -> PastAttempt:
    return PastAttempt(
        alias=alias, input_tokens=tokens, output_tokens=tokens // 10, usd=Decimal(usd)
    )


def _phase(
    phase_id: str, *attempts: PastAttempt, committed: bool, category: TaskCategory = FEATURE
) -> PastPhase:
    return PastPhase(
        phase_id, category, MEDIUM if category is FEATURE else LOW, attempts, committed
    )


def _seed(database: Database) -> None:
    seed_run(
        database,
        ALIASES,
        project_id="demo",
        run_id="run-a",
        phases=[
            # fast made no progress, the escalated standard committed: a failure of fast's.
            _phase(
                "p1",
                _try("anthropic-fast", "0.01"),
                _try("anthropic-standard", "0.20"),
                committed=True,
            ),
            _phase("p2", _try("anthropic-fast", "0.02"), committed=True),
            _phase(
                "p3",
                _try("anthropic-fast", "0.03"),
                _try("anthropic-fast", "0.04"),
                committed=False,
            ),
            _phase("p4", _try("anthropic-standard", "0.30"), committed=True, category=TESTS),
        ],
    )
    # Another project's history is not this project's record.
    seed_run(
        database,
        ALIASES,
        project_id="other",
        run_id="run-b",
        phases=[_phase("p1", _try("anthropic-fast", "0.05"), committed=True)],
    )


def test_each_alias_gets_its_phases_attempts_successes_and_spend(database: Database) -> None:
    _seed(database)
    history = model_history(database, ALIASES, "demo")
    fast = history.get("anthropic-fast", "feature", "medium")
    assert fast is not None
    assert (fast.phases, fast.attempts, fast.successes) == (3, 4, 1)
    assert fast.usd == Decimal("0.10")
    assert fast.tokens == 4 * 1100
    assert fast.usd_per_success == Decimal("0.10")
    assert fast.tokens_per_success == 4400
    assert abs(fast.success_rate - 1 / 3) < 1e-9
    standard = history.get("anthropic-standard", "feature", "medium")
    assert standard is not None
    assert (standard.phases, standard.attempts, standard.successes) == (1, 1, 1)
    assert standard.usd == Decimal("0.20")
    tests = history.get("anthropic-standard", "tests", "low")
    assert tests is not None
    assert tests.successes == 1
    assert {(f.alias, f.task_category, f.complexity) for f in history.figures} == {
        ("anthropic-fast", "feature", "medium"),
        ("anthropic-standard", "feature", "medium"),
        ("anthropic-standard", "tests", "low"),
    }


def test_every_project_when_none_is_named(database: Database) -> None:
    _seed(database)
    fast = model_history(database, ALIASES).get("anthropic-fast", "feature", "medium")
    assert fast is not None
    assert (fast.phases, fast.successes) == (4, 2)


def test_phases_not_ended_and_models_no_alias_resolves_to_are_left_out(database: Database) -> None:
    _seed(database)
    create_run(database, blueprint("run-live"))  # project demo, phases QUEUED
    for model, phase_id in (("claude-haiku-5-5", "a"), ("retired-model", "a")):
        record_llm_call(
            database,
            LlmCallRecord(
                run_id="run-live",
                tier_id="1",
                phase_id=phase_id,
                attempt=1,
                role=Role.BUILDER,
                provider="anthropic",
                model=model,
                input_tokens=5,
                output_tokens=5,
                usd=Decimal("9"),
                latency_ms=1,
                outcome="ok",
            ),
        )
    seed_run(
        database,
        ALIASES,
        project_id="demo",
        run_id="run-c",
        phases=[_phase("p1", _try("anthropic-fast", "0.01"), committed=True)],
    )
    # A row whose model no alias resolves to any more, in an ended phase.
    record_llm_call(
        database,
        LlmCallRecord(
            run_id="run-c",
            tier_id="1",
            phase_id="p1",
            attempt=1,
            role=Role.BUILDER,
            provider="anthropic",
            model="retired-model",
            input_tokens=5,
            output_tokens=5,
            usd=Decimal("9"),
            latency_ms=1,
            outcome="ok",
        ),
    )
    history = model_history(database, ALIASES, "demo")
    fast = history.get("anthropic-fast", "feature", "medium")
    assert fast is not None
    assert fast.usd == Decimal("0.11")
    assert fast.phases == 4
    assert history.unmapped_calls == 1


def test_a_shared_model_goes_to_the_alias_the_attempt_was_routed_to(database: Database) -> None:
    aliases = {**ALIASES, "cheap-twin": ALIASES["anthropic-fast"]}
    seed_run(
        database,
        aliases,
        project_id="demo",
        run_id="run-a",
        phases=[_phase("p1", _try("cheap-twin", "0.01"), committed=True)],
    )
    history = model_history(database, aliases, "demo")
    assert [f.alias for f in history.figures] == ["cheap-twin"]


def test_auditor_calls_are_not_the_builders_record(database: Database) -> None:
    _seed(database)
    record_llm_call(
        database,
        LlmCallRecord(
            run_id="run-a",
            tier_id="1",
            phase_id="p2",
            attempt=1,
            role=Role.AUDITOR,
            provider="anthropic",
            model="claude-haiku-5-5",
            input_tokens=5,
            output_tokens=5,
            usd=Decimal("1"),
            latency_ms=1,
            outcome="ok",
        ),
    )
    fast = model_history(database, ALIASES, "demo").get("anthropic-fast", "feature", "medium")
    assert fast is not None
    assert fast.usd == Decimal("0.10")


def test_no_history_is_empty(database: Database) -> None:
    assert model_history(database, ALIASES, "demo").figures == ()
