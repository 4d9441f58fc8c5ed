"""Issues and the cost ledger in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autopack.domain.issues import BacklogEntry, PhaseIssue
from autopack.domain.vocabulary import IssueSource, IssueState, Role, Severity
from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.issue_records import (
    load_backlog,
    save_backlog,
)
from autopack.store.ledger import LlmCallRecord, ledger_for_run, ledger_totals, record_llm_call
from autopack.store.runs import create_run
from autopack.testing.runs import blueprint


def issue(key: str, severity: Severity = Severity.MINOR) -> PhaseIssue:
    return PhaseIssue(
        issue_key=key,
        severity=severity,
        effective_severity=severity,
        source=IssueSource.AUDITOR,
        category="style",
        first_seen_run="run-1",
        last_seen_run="run-1",
    )


def test_backlog_upserts_by_key(database: Database) -> None:
    entry = BacklogEntry(
        issue_key="lint:long-line",
        severity=Severity.MINOR,
        effective_severity=Severity.MINOR,
        category="style",
        source=IssueSource.STATIC_CHECK,
        first_seen_run="run-1",
        last_seen_run="run-1",
        paths=("src/a.py",),
    )
    save_backlog(database, "demo", [entry])
    aged = entry.model_copy(
        update={"age_in_runs": 3, "effective_severity": Severity.MAJOR, "last_seen_run": "run-3"}
    )
    other = entry.model_copy(update={"issue_key": "lint:other", "issue_state": IssueState.RESOLVED})
    save_backlog(database, "demo", [aged, other])
    assert load_backlog(database, "demo") == [aged, other]
    assert load_backlog(database, "another-project") == []


def test_ledger_totals_are_exact_decimals(database: Database) -> None:
    create_run(database, blueprint())
    for usd in ("0.000125", "0.1", "0.2"):
        record_llm_call(
            database,
            LlmCallRecord(
                run_id="run-1",
                tier_id="1",
                phase_id="a",
                attempt=1,
                role=Role.BUILDER,
                provider="openai",
                model="gpt-5",
                input_tokens=1000,
                cached_input_tokens=200,
                output_tokens=50,
                usd=Decimal(usd),
                latency_ms=420,
                outcome="ok",
            ),
        )
    totals = ledger_totals(database, "run-1")
    assert totals.usd == Decimal("0.300125")
    assert (totals.calls, totals.tokens, totals.cached_input_tokens) == (3, 3150, 600)
    assert [call.usd for call in ledger_for_run(database, "run-1")] == [
        Decimal("0.000125"),
        Decimal("0.1"),
        Decimal("0.2"),
    ]
    assert ledger_totals(database, "other").usd == Decimal(0)


def test_attempts_are_numbered_per_role_and_finish_once(database: Database) -> None:
    from autopack.errors import StoreError
    from autopack.store.attempts import attempts_of_phase, finish_attempt, start_attempt

    create_run(database, blueprint())
    first = start_attempt(database, "run-1", "a", Role.BUILDER, "anthropic-standard")
    review = start_attempt(database, "run-1", "a", Role.AUDITOR, "anthropic-fast")
    second = start_attempt(database, "run-1", "a", Role.BUILDER, "anthropic-top")
    assert (first.number, review.number, second.number) == (1, 1, 2)
    done = finish_attempt(
        database, first.id, outcome="ci_failed", tokens=1200, usd=Decimal("0.0132")
    )
    assert (done.outcome, done.tokens, done.usd) == ("ci_failed", 1200, Decimal("0.0132"))
    assert done.finished_at is not None
    with pytest.raises(StoreError, match="already finished"):
        finish_attempt(database, first.id, outcome="ok", tokens=0, usd=Decimal(0))
    assert [(a.role, a.number) for a in attempts_of_phase(database, "run-1", "a")] == [
        (Role.BUILDER, 1),
        (Role.AUDITOR, 1),
        (Role.BUILDER, 2),
    ]
    with pytest.raises(NotFound):
        start_attempt(database, "run-1", "nope", Role.BUILDER, None)
