"""The run's lease: who may drive it, when a holder stops holding it, and which runs nobody drives."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from autopack.domain.machines import RunEvent
from autopack.domain.states import FailureReason
from autopack.store.checkpoints import mark_interrupted
from autopack.store.engine import Database
from autopack.store.leases import beat, release_lease, silent_runs, take_lease
from autopack.store.runs import create_run
from autopack.store.schema import RunRow, utc_now
from autopack.store.state_changes import transition_run
from autopack.testing.runs import blueprint

MINUTE = timedelta(minutes=1)


def _alive(_: str) -> bool:
    return False


def _dead(_: str) -> bool:
    return True


def _age(database: Database, run_id: str, by: timedelta) -> None:
    with database.transaction() as session:
        session.execute(
            update(RunRow).where(RunRow.run_id == run_id).values(heartbeat_at=utc_now() - by)
        )


def _holder(database: Database, run_id: str) -> str | None:
    with database.transaction() as session:
        return session.scalar(select(RunRow.executor_id).where(RunRow.run_id == run_id))


def test_a_live_holder_keeps_the_run_until_it_goes_silent_dies_is_interrupted_or_lets_go(
    database: Database,
) -> None:
    create_run(database, blueprint("run-1"))
    assert take_lease(database, "run-1", "host-1", MINUTE, _alive) is None
    assert take_lease(database, "run-1", "host-1", MINUTE, _alive) is None  # its own again

    held = take_lease(database, "run-1", "host-2", MINUTE, _alive)
    assert held is not None
    assert held.executor_id == "host-1"
    assert not beat(database, "run-1", "host-2")  # a refused executor cannot beat for it
    assert beat(database, "run-1", "host-1")

    assert take_lease(database, "run-1", "host-2", MINUTE, _dead) is None  # its pid is gone
    assert _holder(database, "run-1") == "host-2"
    assert not beat(database, "run-1", "host-1")  # taken over: the old holder is told

    _age(database, "run-1", timedelta(minutes=2))
    assert take_lease(database, "run-1", "host-3", MINUTE, _alive) is None  # silent too long

    mark_interrupted(database, ["run-1"])
    assert take_lease(database, "run-1", "host-4", MINUTE, _alive) is None  # stopped on purpose

    release_lease(database, "run-1", "host-3")  # not the holder: nothing changes
    assert _holder(database, "run-1") == "host-4"
    release_lease(database, "run-1", "host-4")
    assert _holder(database, "run-1") is None
    assert take_lease(database, "run-1", "host-5", MINUTE, _alive) is None

    failure = FailureReason(code="environment.internal", message="ended")
    transition_run(database, "run-1", RunEvent.ENVIRONMENT_FAILED, cause="ended", reason=failure)
    release_lease(database, "run-1", "host-5")
    assert _holder(database, "run-1") == "host-5"  # who drove it to its end stays on record


def test_silent_runs_are_the_silent_and_the_never_started_of_the_project_not_the_queued(
    database: Database,
) -> None:
    for run_id, project in (
        ("run-live", "p"),
        ("run-silent", "p"),
        ("run-unstarted", "p"),
        ("run-queued", "p"),
        ("run-other", "q"),
    ):
        create_run(
            database,
            blueprint(run_id).model_copy(
                update={"project_id": project, "queued": run_id == "run-queued"}
            ),
        )
    for run_id in ("run-live", "run-silent", "run-other"):
        assert beat(database, run_id, "host-1")
    _age(database, "run-silent", timedelta(minutes=2))
    _age(database, "run-other", timedelta(minutes=2))

    assert silent_runs(database, MINUTE, project_id="p") == [("run-silent", "host-1")]
    # Stored a minute ago and never started: found too, once it is as old as a silent run.
    found = {run_id for run_id, _ in silent_runs(database, timedelta(0), project_id="p")}
    assert found == {"run-live", "run-silent", "run-unstarted"}
    everyone = {run_id for run_id, _ in silent_runs(database, timedelta(0))}
    assert everyone == found | {"run-other"}
