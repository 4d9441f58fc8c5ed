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
    # The branch moved on while the phase's merged tree was checked: merged onto the new head.
    REMERGE = "REMERGE"
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

# Several phases may be live at once (run.max_parallel_phases), so the run only says whether its
# phases have begun; each phase's own machine tracks its attempts, gate, checks and commit.
_RUN_PROGRESS: dict[RunState, dict[RunEvent, RunState]] = {
    RunState.PLAN_BOOTSTRAP: {RunEvent.STRATEGY_FROZEN: RunState.RUN_CREATED},
    RunState.RUN_CREATED: {RunEvent.QUEUE_OPENED: RunState.PHASE_QUEUEING},
    RunState.PHASE_QUEUEING: {
        RunEvent.PHASE_STARTED: RunState.PHASE_EXECUTION,
        RunEvent.ALL_PHASES_DONE: RunState.DONE_SUCCESS,
    },
    RunState.PHASE_EXECUTION: {RunEvent.ALL_PHASES_DONE: RunState.DONE_SUCCESS},
    # Runs stored by versions that moved the run through each attempt's steps can still end.
    RunState.GATE: {},
    RunState.CI_RUNNING: {},
    RunState.SNAPSHOT_CREATED: {},
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
            PhaseEvent.REMERGE: PhaseState.GATE,
            PhaseEvent.FAIL: PhaseState.FAILED,
        },
    },
)

FAILURE_EVENT_FOR_STATE: dict[RunState, RunEvent] = {
    state: event for event, state in _RUN_FAILURES.items()
}

PHASE_ATTEMPT_EVENTS = frozenset({PhaseEvent.START, PhaseEvent.GATE_REJECT, PhaseEvent.CI_FAIL})


@dataclass(frozen=True)
class PhaseProgress:
    """A phase's state with the counters that bound its loops: attempts, and merges onto a moved
    head (each one follows another phase's commit, so a run has fewer than it has phases)."""

    max_attempts: int
    max_remerges: int = 0
    state: PhaseState = PhaseState.QUEUED
    attempts_used: int = 0
    remerges: int = 0

    def legal_events(self) -> frozenset[PhaseEvent]:
        events = PHASE_MACHINE.events_from(self.state)
        if self.attempts_used >= self.max_attempts:
            events = events - PHASE_ATTEMPT_EVENTS
        if self.remerges >= self.max_remerges:
            events = events - {PhaseEvent.REMERGE}
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
        remerges = self.remerges + (1 if event is PhaseEvent.REMERGE else 0)
        return replace(self, state=target, attempts_used=used, remerges=remerges)


@dataclass(frozen=True)
class RunProgress:
    """A run's state with what guards its end: a run with phases ends well only once they began."""

    phases_total: int
    state: RunState = RunState.PLAN_BOOTSTRAP

    def legal_events(self) -> frozenset[RunEvent]:
        events = set(RUN_MACHINE.events_from(self.state))
        if self.phases_total and self.state is RunState.PHASE_QUEUEING:
            events.discard(RunEvent.ALL_PHASES_DONE)
        return frozenset(events)

    def apply(self, event: RunEvent) -> RunProgress:
        target = RUN_MACHINE.next_state(self.state, event)
        if event not in self.legal_events():
            raise IllegalTransition("run", self.state.value, f"{event.value} (guard refused)")
        return replace(self, state=target)

    def step_bound(self) -> int:
        """An upper bound on the events any legal driver can apply before a terminal state."""
        return 4
