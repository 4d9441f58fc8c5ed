"""The transition tables of runs, tiers and phases: the only place that says which moves are legal.

Each machine is a table (state -> event -> next state). Counters that bound the
loops (attempt caps, phases left) live in the `*Progress` values, whose
`legal_events` add those guards, so any driver that only picks legal events
reaches a terminal state in a bounded number of steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


class RunEvent(StrEnum):
    STRATEGY_FROZEN = "STRATEGY_FROZEN"
    QUEUE_OPENED = "QUEUE_OPENED"
    PHASE_STARTED = "PHASE_STARTED"
    PATCH_PROPOSED = "PATCH_PROPOSED"
    GATE_PASSED = "GATE_PASSED"
    GATE_REJECTED = "GATE_REJECTED"
    CI_PASSED = "CI_PASSED"
    CI_FAILED = "CI_FAILED"
    SNAPSHOT_TAKEN = "SNAPSHOT_TAKEN"
    PHASE_ABANDONED = "PHASE_ABANDONED"
    ALL_PHASES_DONE = "ALL_PHASES_DONE"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    POLICY_VIOLATED = "POLICY_VIOLATED"
    REVIEW_REQUIRED = "REVIEW_REQUIRED"
    ENVIRONMENT_FAILED = "ENVIRONMENT_FAILED"


class TierEvent(StrEnum):
    START = "START"
    FINISH = "FINISH"
    FAIL = "FAIL"
    SKIP = "SKIP"


class PhaseEvent(StrEnum):
    START = "START"
    SUBMIT = "SUBMIT"
    GATE_PASS = "GATE_PASS"
    GATE_REJECT = "GATE_REJECT"
    CI_PASS = "CI_PASS"
    CI_FAIL = "CI_FAIL"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class StateMachine(Generic[S, E]):
    name: str
    table: Mapping[S, Mapping[E, S]]

    def next_state(self, current: S, event: E) -> S:
        moves = self.table.get(current, {})
        if event not in moves:
            raise IllegalTransition(self.name, current.value, event.value)
        return moves[event]

    def events_from(self, current: S) -> frozenset[E]:
        return frozenset(self.table.get(current, {}))

    def is_terminal(self, state: S) -> bool:
        return not self.table.get(state)

    def check_move(self, current: S, target: S, event: E) -> None:
        """Raise unless `event` moves `current` exactly to `target`."""
        if self.next_state(current, event) != target:
            raise IllegalTransition(self.name, current.value, event.value, target.value)


_RUN_FAILURES: dict[RunEvent, RunState] = {
    RunEvent.BUDGET_EXHAUSTED: RunState.DONE_FAILED_BUDGET_EXHAUSTED,
    RunEvent.POLICY_VIOLATED: RunState.DONE_FAILED_POLICY_VIOLATION,
    RunEvent.REVIEW_REQUIRED: RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW,
    RunEvent.ENVIRONMENT_FAILED: RunState.DONE_FAILED_ENVIRONMENT,
}

_RUN_PROGRESS: dict[RunState, dict[RunEvent, RunState]] = {
    RunState.PLAN_BOOTSTRAP: {RunEvent.STRATEGY_FROZEN: RunState.RUN_CREATED},
    RunState.RUN_CREATED: {RunEvent.QUEUE_OPENED: RunState.PHASE_QUEUEING},
    RunState.PHASE_QUEUEING: {
        RunEvent.PHASE_STARTED: RunState.PHASE_EXECUTION,
        RunEvent.ALL_PHASES_DONE: RunState.DONE_SUCCESS,
    },
    RunState.PHASE_EXECUTION: {
        RunEvent.PATCH_PROPOSED: RunState.GATE,
        RunEvent.PHASE_ABANDONED: RunState.PHASE_QUEUEING,
    },
    RunState.GATE: {
        RunEvent.GATE_PASSED: RunState.CI_RUNNING,
        RunEvent.GATE_REJECTED: RunState.PHASE_EXECUTION,
        RunEvent.PHASE_ABANDONED: RunState.PHASE_QUEUEING,
    },
    RunState.CI_RUNNING: {
        RunEvent.CI_PASSED: RunState.SNAPSHOT_CREATED,
        RunEvent.CI_FAILED: RunState.PHASE_EXECUTION,
        RunEvent.PHASE_ABANDONED: RunState.PHASE_QUEUEING,
    },
    RunState.SNAPSHOT_CREATED: {RunEvent.SNAPSHOT_TAKEN: RunState.PHASE_QUEUEING},
}

RUN_MACHINE: StateMachine[RunState, RunEvent] = StateMachine(
    "run",
    {state: {**moves, **_RUN_FAILURES} for state, moves in _RUN_PROGRESS.items()},
)

TIER_MACHINE: StateMachine[TierState, TierEvent] = StateMachine(
    "tier",
    {
        TierState.PENDING: {
            TierEvent.START: TierState.IN_PROGRESS,
            TierEvent.SKIP: TierState.SKIPPED,
        },
        TierState.IN_PROGRESS: {
            TierEvent.FINISH: TierState.COMPLETE,
            TierEvent.FAIL: TierState.FAILED,
            TierEvent.SKIP: TierState.SKIPPED,
        },
    },
)

PHASE_MACHINE: StateMachine[PhaseState, PhaseEvent] = StateMachine(
    "phase",
    {
        PhaseState.QUEUED: {
            PhaseEvent.START: PhaseState.EXECUTING,
            PhaseEvent.SKIP: PhaseState.SKIPPED,
        },
        PhaseState.EXECUTING: {
            PhaseEvent.SUBMIT: PhaseState.GATE,
            PhaseEvent.FAIL: PhaseState.FAILED,
        },
        PhaseState.GATE: {
            PhaseEvent.GATE_PASS: PhaseState.CI_RUNNING,
            PhaseEvent.GATE_REJECT: PhaseState.EXECUTING,
            PhaseEvent.FAIL: PhaseState.FAILED,
        },
        PhaseState.CI_RUNNING: {
            PhaseEvent.CI_PASS: PhaseState.COMPLETE,
            PhaseEvent.CI_FAIL: PhaseState.EXECUTING,
            PhaseEvent.FAIL: PhaseState.FAILED,
        },
    },
)

FAILURE_EVENT_FOR_STATE: dict[RunState, RunEvent] = {
    state: event for event, state in _RUN_FAILURES.items()
}

# Events that start a new Builder attempt; the attempt cap guards them.
_RUN_ATTEMPT_EVENTS = frozenset(
    {RunEvent.PHASE_STARTED, RunEvent.GATE_REJECTED, RunEvent.CI_FAILED}
)
PHASE_ATTEMPT_EVENTS = frozenset({PhaseEvent.START, PhaseEvent.GATE_REJECT, PhaseEvent.CI_FAIL})
_RUN_PHASE_ENDS = frozenset({RunEvent.SNAPSHOT_TAKEN, RunEvent.PHASE_ABANDONED})


@dataclass(frozen=True)
class PhaseProgress:
    """A phase's state with the attempt counter that bounds its retry loop."""

    max_attempts: int
    state: PhaseState = PhaseState.QUEUED
    attempts_used: int = 0

    def legal_events(self) -> frozenset[PhaseEvent]:
        events = PHASE_MACHINE.events_from(self.state)
        if self.attempts_used >= self.max_attempts:
            events = events - PHASE_ATTEMPT_EVENTS
        return events

    def apply(self, event: PhaseEvent) -> PhaseProgress:
        target = PHASE_MACHINE.next_state(self.state, event)
        if event not in self.legal_events():
            raise IllegalTransition(
                "phase",
                self.state.value,
                f"{event.value} (attempt cap {self.max_attempts} reached)",
            )
        used = self.attempts_used + (1 if event in PHASE_ATTEMPT_EVENTS else 0)
        return replace(self, state=target, attempts_used=used)


@dataclass(frozen=True)
class RunProgress:
    """A run's state with the counters (phases left, attempts in the current phase) that bound it."""

    phases_total: int
    max_attempts_per_phase: int
    state: RunState = RunState.PLAN_BOOTSTRAP
    phases_finished: int = 0
    attempts_in_phase: int = 0

    def legal_events(self) -> frozenset[RunEvent]:
        events = set(RUN_MACHINE.events_from(self.state))
        if self.phases_finished >= self.phases_total:
            events.discard(RunEvent.PHASE_STARTED)
        else:
            events.discard(RunEvent.ALL_PHASES_DONE)
        if self.attempts_in_phase >= self.max_attempts_per_phase:
            events -= {RunEvent.GATE_REJECTED, RunEvent.CI_FAILED}
        return frozenset(events)

    def apply(self, event: RunEvent) -> RunProgress:
        target = RUN_MACHINE.next_state(self.state, event)
        if event not in self.legal_events():
            raise IllegalTransition("run", self.state.value, f"{event.value} (guard refused)")
        attempts = self.attempts_in_phase
        finished = self.phases_finished
        if event in _RUN_ATTEMPT_EVENTS:
            attempts = 1 if event is RunEvent.PHASE_STARTED else attempts + 1
        if event in _RUN_PHASE_ENDS:
            finished += 1
            attempts = 0
        return replace(self, state=target, phases_finished=finished, attempts_in_phase=attempts)

    def step_bound(self) -> int:
        """An upper bound on the events any legal driver can apply before a terminal state."""
        per_phase = 1 + 3 * self.max_attempts_per_phase + 1
        return 3 + self.phases_total * per_phase
