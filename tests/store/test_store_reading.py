"""Reads never wait for writers: `Database.reading()` takes no lock on SQLite and refuses writes.

Real databases only. The writer holding the lock is another engine, as a worker's would be.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.states import RunState
from autopack.domain.vocabulary import IssueSource, Role, Severity, TokenScope
from autopack.errors import StoreError
from autopack.store.attempts import attempts_of_phase, finish_attempt, start_attempt
from autopack.store.chains import chain_of, chain_plans, create_chain
from autopack.store.engine import Database, engine_for, open_database
from autopack.store.issue_records import load_backlog, save_backlog
from autopack.store.ledger import LlmCallRecord, ledger_for_run, ledger_totals, record_llm_call
from autopack.store.progress import last_progress_id, progress_after, record_progress
from autopack.store.reports import (
    list_run_listings,
    phases_by_state,
    run_listing,
    runs_by_state,
    spend_by,
)
from autopack.store.runs import create_run, frozen_settings, get_run, list_events, list_runs
from autopack.store.schema import ApiTokenRow, ProgressEventRow, ProjectRow, RunRow, utc_now
from autopack.store.tokens import create_token, list_tokens, verify_token
from autopack.testing.runs import blueprint

RUN = "run-1"


def _plan() -> PlanSpec:
    return PlanSpec(
        title="Part one",
        tiers=(TierSpec(id="1", name="One", phases=(PhaseSpec(id="a", title="A", tier_id="1"),)),),
    )


class Seeded:
    """A run with something in every table a read path reads, and a live API token."""

    def __init__(self, database: Database):
        create_chain(database, "chain-1", "demo", "plan.md", [_plan()])
        create_run(
            database, blueprint(RUN).model_copy(update={"chain_id": "chain-1", "chain_part": 1})
        )
        self.progress_id = record_progress(database, RUN, "attempt", {"phase": "a", "step": "s"})
        attempt = start_attempt(database, RUN, "a", Role.BUILDER, "fake")
        finish_attempt(database, attempt.id, outcome="ok", tokens=10, usd=Decimal("0.01"))
        record_llm_call(
            database,
            LlmCallRecord(
                run_id=RUN,
                tier_id="1",
                phase_id="a",
                role=Role.BUILDER,
                provider="fake",
                model="fake",
                input_tokens=7,
                output_tokens=3,
                usd=Decimal("0.01"),
                latency_ms=5,
                outcome="ok",
            ),
        )
        save_backlog(
            database,
            "demo",
            [
                BacklogEntry(
                    issue_key="lint:x",
                    severity=Severity.MINOR,
                    effective_severity=Severity.MINOR,
                    category="style",
                    source=IssueSource.STATIC_CHECK,
                    first_seen_run=RUN,
                    last_seen_run=RUN,
                )
            ],
        )
        self.token, _ = create_token(database, "reader", TokenScope.READ)
        verify_token(database, self.token)  # its use is recorded now, so the next is a pure read


# Every read the API, the dashboard and the CLI make, with what it must find.
READS: dict[str, Callable[[Database, Seeded], bool]] = {
    "get_run": lambda db, _: get_run(db, RUN).state is RunState.PLAN_BOOTSTRAP,
    "list_runs": lambda db, _: [line.run_id for line in list_runs(db)] == [RUN],
    "list_events": lambda db, _: [e.event for e in list_events(db, RUN)] == ["CREATED"],
    "frozen_settings": lambda db, _: frozen_settings(db, RUN) is None,
    "progress_after": lambda db, seeded: (
        [e.id for e in progress_after(db, 0, run_id=RUN)] == [seeded.progress_id]
    ),
    "last_progress_id": lambda db, seeded: last_progress_id(db) == seeded.progress_id,
    "list_run_listings": lambda db, _: list_run_listings(db)[1] == 1,
    "run_listing": lambda db, _: (
        (listing := run_listing(db, RUN)) is not None and listing.spend.calls == 1
    ),
    "spend_by": lambda db, _: [s.key for s in spend_by(db, "role")] == ["builder"],
    "runs_by_state": lambda db, _: runs_by_state(db) == {"PLAN_BOOTSTRAP": 1},
    "phases_by_state": lambda db, _: phases_by_state(db) == {"QUEUED": 3},
    "attempts_of_phase": lambda db, _: (
        [a.outcome for a in attempts_of_phase(db, RUN, "a")] == ["ok"]
    ),
    "ledger_for_run": lambda db, _: len(ledger_for_run(db, RUN)) == 1,
    "ledger_totals": lambda db, _: ledger_totals(db, RUN).tokens == 10,
    "load_backlog": lambda db, _: [e.issue_key for e in load_backlog(db, "demo")] == ["lint:x"],
    "list_tokens": lambda db, _: [t.name for t in list_tokens(db)] == ["reader"],
    "verify_token": lambda db, seeded: verify_token(db, seeded.token) is not None,
    "chain_plans": lambda db, _: [p.title for p in chain_plans(db, "chain-1")] == ["Part one"],
    "chain_of": lambda db, _: (chain := chain_of(db, RUN)) is not None and chain.of == 1,
}


@pytest.fixture
def other_engine(database: Database) -> Iterator[Engine]:
    """A second engine on the same database: another process's pool, as a worker has."""
    engine = engine_for(database.engine.url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("read", list(READS), ids=list(READS))
def test_a_read_completes_while_a_writer_holds_an_open_write_transaction(
    database: Database, other_engine: Engine, read: str
) -> None:
    seeded = Seeded(database)
    # On SQLite this BEGIN IMMEDIATE holds the database's one write lock until the block ends; a
    # read taking that lock too would wait busy_timeout (5 s) and fail with "database is locked".
    with other_engine.begin() as writer:
        writer.execute(update(RunRow).where(RunRow.run_id == RUN).values(state="GATE"))
        writer.execute(
            insert(ProgressEventRow).values(run_id=RUN, kind="llm", payload="{}", at=utc_now())
        )
        # The reader sees what was committed, not the writer's work in progress.
        assert READS[read](database, seeded)
        writer.rollback()


def test_a_read_takes_no_lock_and_a_write_takes_it_at_once(tmp_path: Any) -> None:
    """SQLite: another connection can start writing during reading(), never during transaction()."""
    path = tmp_path / "autopack.db"

    database = open_database(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        with database.reading() as session:
            session.execute(select(func.count()).select_from(RunRow)).scalar()
            other.execute("BEGIN IMMEDIATE")  # would be "database is locked" under a write lock
            other.execute("ROLLBACK")
        with database.transaction() as session:
            session.execute(select(func.count()).select_from(RunRow)).scalar()
            # The lock is taken at BEGIN, before any write: a deferred write transaction could
            # read state another writer is about to change, and lose that writer's update.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        database.close()


def _projects(database: Database) -> list[str]:
    with database.transaction() as session:
        return list(session.scalars(select(ProjectRow.project_id).order_by(ProjectRow.project_id)))


def _write_while_reading(database: Database, write: Callable[[Any], object]) -> None:
    with database.reading() as session:
        session.get(RunRow, RUN)
        write(session)


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda session: session.add(ProjectRow(project_id="sneaky")), id="orm-add"),
        pytest.param(
            lambda session: session.execute(
                insert(ProjectRow).values(project_id="sneaky", created_at=utc_now())
            ),
            id="core-insert",
        ),
        pytest.param(
            lambda session: session.execute(text("DELETE FROM projects")), id="raw-delete"
        ),
    ],
)
def test_a_write_inside_a_read_transaction_is_refused_and_nothing_is_written(
    database: Database, write: Callable[[Any], object]
) -> None:
    create_run(database, blueprint(RUN))
    with pytest.raises(StoreError, match=r"read transaction .* refused and nothing was written"):
        _write_while_reading(database, write)
    assert _projects(database) == ["demo"]
    # The pooled connection the refusal used writes again in transaction(), and refuses again in
    # reading(): the read-only mark neither leaks into writes nor wears off.
    with database.transaction() as session:
        session.add(ProjectRow(project_id="other"))
    assert _projects(database) == ["demo", "other"]
    with pytest.raises(StoreError, match="read transaction"):
        _write_while_reading(database, write)
    assert _projects(database) == ["demo", "other"]


def _select_a_missing_table(database: Database) -> None:
    with database.reading() as session:
        session.execute(text("SELECT * FROM no_such_table"))


def test_other_database_errors_in_a_read_are_not_called_refused_writes(database: Database) -> None:
    with pytest.raises(DBAPIError, match="no_such_table"):
        _select_a_missing_table(database)


def _utc(moment: datetime | None) -> datetime:
    # SQLite gives stored times back without their zone; they are UTC.
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_a_token_use_is_still_recorded_about_once_a_minute(database: Database) -> None:
    token, _ = create_token(database, "reader", TokenScope.READ)
    first = verify_token(database, token)
    assert first is not None
    again = verify_token(database, token)
    assert again is not None
    assert _utc(again.last_used_at) == _utc(first.last_used_at)
    long_ago = utc_now() - timedelta(minutes=5)
    with database.transaction() as session:
        session.execute(update(ApiTokenRow).values(last_used_at=long_ago))
    later = verify_token(database, token)
    assert later is not None
    assert _utc(later.last_used_at) > long_ago + timedelta(minutes=4)
    [stored] = list_tokens(database)
    assert _utc(stored.last_used_at) == _utc(later.last_used_at)


def test_a_run_listing_is_the_runs_entry_in_the_listing_pages(database: Database) -> None:
    Seeded(database)
    record_progress(database, RUN, "verified", {"phase": "a", "seconds": 1.0})
    create_run(database, blueprint("run-2"))
    pages, _ = list_run_listings(database)
    assert [run_listing(database, entry.run_id) for entry in pages] == pages
    by_id = {entry.run_id: entry for entry in pages}
    assert (by_id[RUN].spend.calls, by_id[RUN].ci_runs) == (1, 1)
    assert (by_id["run-2"].spend.calls, by_id["run-2"].ci_runs) == (0, 0)
    assert run_listing(database, "no-such-run") is None
