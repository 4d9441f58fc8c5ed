"""State changes: the domain tables decide, and row and event are written together or not at all."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select

from autopack.domain.machines import PhaseEvent, RunEvent, TierEvent
from autopack.domain.states import FailureReason, PhaseState, RunState, TierState
from autopack.errors import IllegalTransition, MissingFailureReason, NotFound, StoreError
from autopack.store.engine import Database
from autopack.store.runs import (
    create_run,
    get_run,
    list_events,
    list_runs,
)
from autopack.store.schema import EventRow
from autopack.store.state_changes import transition_phase, transition_run, transition_tier
from autopack.testing.runs import blueprint


def event_count(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count(EventRow.id))) or 0)


def test_created_run_starts_in_bootstrap_with_pending_tiers_and_queued_phases(
    database: Database,
) -> None:
    create_run(database, blueprint())
    run = get_run(database, "run-1")
    assert run.state is RunState.PLAN_BOOTSTRAP
    assert [t.state for t in run.tiers] == [TierState.PENDING, TierState.PENDING]
    assert [p.phase_id for t in run.tiers for p in t.phases] == ["a", "b", "c"]
    assert {p.state for t in run.tiers for p in t.phases} == {PhaseState.QUEUED}
    assert [e.event for e in list_events(database, "run-1")] == ["CREATED"]
    assert list_runs(database, project_id="demo")[0][0] == "run-1"


def test_creating_the_same_run_twice_is_refused(database: Database) -> None:
    create_run(database, blueprint())
    with pytest.raises(StoreError, match="already exists"):
        create_run(database, blueprint())


def test_legal_transition_updates_row_and_appends_event(database: Database) -> None:
    create_run(database, blueprint())
    assert (
        transition_run(database, "run-1", RunEvent.STRATEGY_FROZEN, cause="frozen")
        is RunState.RUN_CREATED
    )
    last = list_events(database, "run-1")[-1]
    assert (last.from_state, last.to_state, last.event, last.cause) == (
        "PLAN_BOOTSTRAP",
        "RUN_CREATED",
        "STRATEGY_FROZEN",
        "frozen",
    )
    assert get_run(database, "run-1").state is RunState.RUN_CREATED


def test_illegal_transition_writes_nothing_and_names_both_states(database: Database) -> None:
    create_run(database, blueprint())
    before = event_count(database)
    with pytest.raises(IllegalTransition) as caught:
        transition_run(database, "run-1", RunEvent.PHASE_STARTED, cause="nonsense")
    assert "PLAN_BOOTSTRAP" in str(caught.value)
    assert "PHASE_STARTED" in str(caught.value)
    assert event_count(database) == before
    assert get_run(database, "run-1").state is RunState.PLAN_BOOTSTRAP


def test_failure_states_require_a_reason_and_store_it(database: Database) -> None:
    create_run(database, blueprint())
    before = event_count(database)
    with pytest.raises(MissingFailureReason):
        transition_run(database, "run-1", RunEvent.BUDGET_EXHAUSTED, cause="cap")
    assert event_count(database) == before
    reason = FailureReason(code="budget.run_tokens", message="The run used its 5,000,000 tokens.")
    transition_run(database, "run-1", RunEvent.BUDGET_EXHAUSTED, cause="cap", reason=reason)
    run = get_run(database, "run-1")
    assert run.state is RunState.DONE_FAILED_BUDGET_EXHAUSTED
    assert run.failure == reason
    assert run.ended_at is not None
    assert list_events(database, "run-1")[-1].reason_code == "budget.run_tokens"


def test_reason_on_a_non_failure_is_refused(database: Database) -> None:
    create_run(database, blueprint())
    with pytest.raises(MissingFailureReason):
        transition_run(
            database,
            "run-1",
            RunEvent.STRATEGY_FROZEN,
            cause="x",
            reason=FailureReason(code="x", message="x"),
        )
    assert get_run(database, "run-1").state is RunState.PLAN_BOOTSTRAP


def test_terminal_state_is_final(database: Database) -> None:
    create_run(database, blueprint())
    reason = FailureReason(code="environment.git", message="git is missing")
    transition_run(database, "run-1", RunEvent.ENVIRONMENT_FAILED, cause="x", reason=reason)
    for run_event in RunEvent:
        with pytest.raises(IllegalTransition):
            transition_run(database, "run-1", run_event, cause="again", reason=reason)
    assert get_run(database, "run-1").state is RunState.DONE_FAILED_ENVIRONMENT


def test_crash_while_appending_the_event_leaves_the_row_unchanged(database: Database) -> None:
    create_run(database, blueprint())
    before = event_count(database)

    def crash(*_: Any) -> None:
        raise RuntimeError("process died between the update and the event")

    event.listen(EventRow, "before_insert", crash)
    try:
        with pytest.raises(RuntimeError, match="process died"):
            transition_run(database, "run-1", RunEvent.STRATEGY_FROZEN, cause="frozen")
    finally:
        event.remove(EventRow, "before_insert", crash)
    assert get_run(database, "run-1").state is RunState.PLAN_BOOTSTRAP
    assert event_count(database) == before


def test_concurrent_writers_cannot_both_leave_the_same_state(database: Database) -> None:
    create_run(database, blueprint())
    transition_run(database, "run-1", RunEvent.STRATEGY_FROZEN, cause="frozen")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            transition_run(
                database, "run-1", RunEvent.QUEUE_OPENED, cause=threading.current_thread().name
            )
            outcomes.append("moved")
        except IllegalTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["moved", "refused", "refused", "refused"]
    from_created = [e for e in list_events(database, "run-1") if e.from_state == "RUN_CREATED"]
    assert len(from_created) == 1


def test_tier_and_phase_transitions_follow_their_tables(database: Database) -> None:
    create_run(database, blueprint())
    assert (
        transition_tier(database, "run-1", "1", TierEvent.START, cause="go")
        is TierState.IN_PROGRESS
    )
    transition_phase(database, "run-1", "a", PhaseEvent.START, cause="attempt 1")
    transition_phase(database, "run-1", "a", PhaseEvent.SUBMIT, cause="patch")
    transition_phase(database, "run-1", "a", PhaseEvent.GATE_REJECT, cause="policy")
    phase = get_run(database, "run-1").tiers[0].phases[0]
    assert (phase.state, phase.attempts_used) == (PhaseState.EXECUTING, 2)
    with pytest.raises(IllegalTransition):
        transition_phase(database, "run-1", "b", PhaseEvent.CI_PASS, cause="skip ahead")
    with pytest.raises(IllegalTransition):
        transition_tier(database, "run-1", "2", TierEvent.FINISH, cause="never started")
    entities = [(e.entity, e.entity_id, e.to_state) for e in list_events(database, "run-1")[1:]]
    assert entities[0] == ("tier", "1", "IN_PROGRESS")
    assert entities[-1] == ("phase", "a", "EXECUTING")


def test_unknown_ids_are_not_found(database: Database) -> None:
    with pytest.raises(NotFound):
        transition_run(database, "nope", RunEvent.STRATEGY_FROZEN, cause="x")
    create_run(database, blueprint())
    with pytest.raises(NotFound):
        transition_phase(database, "run-1", "zzz", PhaseEvent.START, cause="x")
    with pytest.raises(NotFound):
        get_run(database, "nope")


def test_tier_cleanliness_is_stored(database: Database) -> None:
    from autopack.domain.vocabulary import Cleanliness
    from autopack.store.runs import set_tier_cleanliness

    create_run(database, blueprint())
    assert get_run(database, "run-1").tiers[0].cleanliness is None
    set_tier_cleanliness(database, "run-1", "1", Cleanliness.NOT_CLEAN)
    assert get_run(database, "run-1").tiers[0].cleanliness is Cleanliness.NOT_CLEAN
    with pytest.raises(NotFound):
        set_tier_cleanliness(database, "run-1", "9", Cleanliness.CLEAN)


def test_the_database_refuses_to_rewrite_history(database: Database) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    create_run(database, blueprint())
    transition_run(database, "run-1", RunEvent.STRATEGY_FROZEN, cause="frozen")
    for statement in (update(EventRow).values(cause="rewritten"), delete(EventRow)):
        with pytest.raises(DBAPIError, match="append-only"), database.transaction() as session:
            session.execute(statement)
    assert [e.cause for e in list_events(database, "run-1")][-1] == "frozen"
