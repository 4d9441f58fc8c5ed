"""The run, tier and phase transition tables and the guards that bound their loops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack.domain.machines import (
    FAILURE_EVENT_FOR_STATE,
    PHASE_MACHINE,
    RUN_MACHINE,
    TIER_MACHINE,
    PhaseEvent,
    PhaseProgress,
    RunEvent,
    RunProgress,
    TierEvent,
)
from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import IllegalTransition


def test_every_run_state_is_in_the_table_or_terminal() -> None:
    for state in RunState:
        assert RUN_MACHINE.is_terminal(state) == state.is_terminal


def test_terminal_run_states_accept_no_event() -> None:
    for state in RunState:
        if not state.is_terminal:
            continue
        for event in RunEvent:
            with pytest.raises(IllegalTransition):
                RUN_MACHINE.next_state(state, event)


def test_illegal_run_transition_names_both_states() -> None:
    with pytest.raises(IllegalTransition) as caught:
        RUN_MACHINE.check_move(
            RunState.PHASE_QUEUEING, RunState.DONE_SUCCESS, RunEvent.PHASE_STARTED
        )
    message = str(caught.value)
    assert "PHASE_QUEUEING" in message
    assert "DONE_SUCCESS" in message
    assert caught.value.current == "PHASE_QUEUEING"
    assert caught.value.target == "DONE_SUCCESS"


def test_unknown_event_in_state_names_state_and_event() -> None:
    with pytest.raises(IllegalTransition, match=r"PHASE_STARTED.*PLAN_BOOTSTRAP"):
        RUN_MACHINE.next_state(RunState.PLAN_BOOTSTRAP, RunEvent.PHASE_STARTED)


@pytest.mark.parametrize(
    ("event", "target"),
    [
        (RunEvent.BUDGET_EXHAUSTED, RunState.DONE_FAILED_BUDGET_EXHAUSTED),
        (RunEvent.POLICY_VIOLATED, RunState.DONE_FAILED_POLICY_VIOLATION),
        (RunEvent.REVIEW_REQUIRED, RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW),
        (RunEvent.ENVIRONMENT_FAILED, RunState.DONE_FAILED_ENVIRONMENT),
    ],
)
def test_every_live_run_state_can_fail_into_each_failure_state(
    event: RunEvent, target: RunState
) -> None:
    for state in RunState:
        if not state.is_terminal:
            assert RUN_MACHINE.next_state(state, event) is target


def test_happy_path_reaches_done_success() -> None:
    progress = RunProgress(phases_total=2)
    for event in (
        RunEvent.STRATEGY_FROZEN,
        RunEvent.QUEUE_OPENED,
        RunEvent.PHASE_STARTED,
        RunEvent.ALL_PHASES_DONE,
    ):
        progress = progress.apply(event)
    assert progress.state is RunState.DONE_SUCCESS


def test_a_run_with_phases_cannot_finish_before_they_start() -> None:
    progress = RunProgress(phases_total=2)
    progress = progress.apply(RunEvent.STRATEGY_FROZEN).apply(RunEvent.QUEUE_OPENED)
    with pytest.raises(IllegalTransition, match="guard"):
        progress.apply(RunEvent.ALL_PHASES_DONE)
    assert (
        RunProgress(phases_total=0, state=RunState.PHASE_QUEUEING)
        .apply(RunEvent.ALL_PHASES_DONE)
        .state
        is RunState.DONE_SUCCESS
    )


def test_only_the_first_phase_to_start_moves_the_run() -> None:
    with pytest.raises(IllegalTransition):
        RUN_MACHINE.next_state(RunState.PHASE_EXECUTION, RunEvent.PHASE_STARTED)


def test_a_phase_merged_again_onto_a_moved_head_is_bounded() -> None:
    phase = PhaseProgress(max_attempts=1, max_remerges=1)
    phase = phase.apply(PhaseEvent.START).apply(PhaseEvent.SUBMIT).apply(PhaseEvent.GATE_PASS)
    phase = phase.apply(PhaseEvent.REMERGE).apply(PhaseEvent.GATE_PASS)
    assert phase.state is PhaseState.CI_RUNNING
    assert phase.attempts_used == 1
    with pytest.raises(IllegalTransition):
        phase.apply(PhaseEvent.REMERGE)


def test_a_run_stored_in_an_old_per_attempt_state_can_still_fail() -> None:
    for state in (RunState.GATE, RunState.CI_RUNNING, RunState.SNAPSHOT_CREATED):
        assert RUN_MACHINE.events_from(state) == frozenset(FAILURE_EVENT_FOR_STATE.values())


def test_phase_retry_counts_attempts_and_stops_at_cap() -> None:
    phase = PhaseProgress(max_attempts=2)
    phase = phase.apply(PhaseEvent.START).apply(PhaseEvent.SUBMIT).apply(PhaseEvent.GATE_REJECT)
    assert phase.attempts_used == 2
    phase = phase.apply(PhaseEvent.SUBMIT)
    assert PhaseEvent.GATE_REJECT not in phase.legal_events()
    with pytest.raises(IllegalTransition, match="attempt cap 2"):
        phase.apply(PhaseEvent.GATE_REJECT)


def test_tier_terminal_states_are_final() -> None:
    for state in (TierState.COMPLETE, TierState.FAILED, TierState.SKIPPED):
        assert TIER_MACHINE.is_terminal(state)
        for event in TierEvent:
            with pytest.raises(IllegalTransition):
                TIER_MACHINE.next_state(state, event)


def test_phase_terminal_states_are_final() -> None:
    for state in (PhaseState.COMPLETE, PhaseState.FAILED, PhaseState.SKIPPED):
        for event in PhaseEvent:
            with pytest.raises(IllegalTransition):
                PHASE_MACHINE.next_state(state, event)


@settings(max_examples=300)
@given(
    events=st.lists(st.sampled_from(list(RunEvent)), max_size=60),
    phases=st.integers(min_value=0, max_value=5),
)
def test_random_run_events_never_reach_a_state_outside_the_table(
    events: list[RunEvent], phases: int
) -> None:
    progress = RunProgress(phases_total=phases)
    for event in events:
        before = progress
        try:
            progress = progress.apply(event)
        except IllegalTransition:
            assert progress == before
            continue
        assert progress.state is RUN_MACHINE.next_state(before.state, event)
        if before.state.is_terminal:
            pytest.fail(f"left terminal state {before.state}")


@settings(max_examples=300)
@given(
    data=st.data(),
    phases=st.integers(min_value=0, max_value=6),
)
def test_driver_picking_only_legal_run_events_reaches_a_terminal_state(
    data: st.DataObject, phases: int
) -> None:
    progress = RunProgress(phases_total=phases)
    for _ in range(progress.step_bound()):
        if progress.state.is_terminal:
            break
        legal = sorted(progress.legal_events())
        assert legal, f"live state {progress.state} has no legal event"
        progress = progress.apply(data.draw(st.sampled_from(legal)))
    assert progress.state.is_terminal


@settings(max_examples=200)
@given(
    data=st.data(),
    cap=st.integers(min_value=1, max_value=4),
    remerges=st.integers(min_value=0, max_value=3),
)
def test_driver_picking_only_legal_phase_events_reaches_a_terminal_state(
    data: st.DataObject, cap: int, remerges: int
) -> None:
    phase = PhaseProgress(max_attempts=cap, max_remerges=remerges)
    for _ in range(2 + 3 * cap + 2 * remerges):
        if PHASE_MACHINE.is_terminal(phase.state):
            break
        phase = phase.apply(data.draw(st.sampled_from(sorted(phase.legal_events()))))
    assert PHASE_MACHINE.is_terminal(phase.state)
    assert phase.attempts_used <= cap


@settings(max_examples=200)
@given(events=st.lists(st.sampled_from(list(TierEvent)), max_size=10))
def test_random_tier_events_only_follow_the_table(events: list[TierEvent]) -> None:
    state = TierState.PENDING
    for event in events:
        allowed = TIER_MACHINE.events_from(state)
        if event in allowed:
            state = TIER_MACHINE.next_state(state, event)
        else:
            with pytest.raises(IllegalTransition):
                TIER_MACHINE.next_state(state, event)
    assert state in set(TierState)
