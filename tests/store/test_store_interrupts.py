"""An interrupt is a mark on the run, not a state: every view of the run shows it, a run that had
ended keeps no mark, driving the run again clears it, and workers leave marked runs alone."""

from __future__ import annotations

from datetime import timedelta

from autopack.domain.machines import RunEvent
from autopack.domain.states import FailureReason, RunState
from autopack.store.checkpoints import clear_interrupted, mark_interrupted
from autopack.store.engine import Database
from autopack.store.leases import beat, silent_runs
from autopack.store.reports import run_listing
from autopack.store.runs import create_run, get_run, list_runs
from autopack.store.state_changes import transition_run
from autopack.testing.runs import blueprint


def test_an_interrupt_marks_unfinished_runs_in_every_view_until_they_are_driven_again(
    database: Database,
) -> None:
    create_run(database, blueprint("run-1"))
    create_run(database, blueprint("run-2"))
    failure = FailureReason(code="environment.internal", message="ended before")
    transition_run(database, "run-2", RunEvent.ENVIRONMENT_FAILED, cause="ended", reason=failure)
    for run_id in ("run-1", "run-2"):
        beat(database, run_id, "host-1")

    mark_interrupted(database, ["run-1", "run-2"])

    interrupted = get_run(database, "run-1").interrupted_at
    assert interrupted is not None
    assert get_run(database, "run-1").state is RunState.PLAN_BOOTSTRAP  # where it stopped
    assert get_run(database, "run-2").interrupted_at is None  # it had ended: nothing to resume
    lines = {line.run_id: line.interrupted_at for line in list_runs(database)}
    assert lines == {"run-1": interrupted, "run-2": None}
    listing = run_listing(database, "run-1")  # what the API and the dashboard show
    assert listing is not None
    assert listing.interrupted_at == interrupted
    assert silent_runs(database, timedelta(0)) == []  # a worker does not adopt it
    assert silent_runs(database, timedelta(0), interrupted=True) == [("run-1", "host-1")]

    clear_interrupted(database, "run-1")

    assert get_run(database, "run-1").interrupted_at is None
    assert silent_runs(database, timedelta(0)) == [("run-1", "host-1")]
