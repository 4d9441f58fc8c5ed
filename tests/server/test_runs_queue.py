"""Runs for workers wait on DBOS's queue `autopack-runs`: real `autopack worker` processes on one
SQLite database take them within the queue's limits (runtime.worker_concurrency in each worker,
runtime.global_concurrency across all), each project's runs in its own partition; a worker
SIGKILLed in the middle of a phase has its run recovered by another through DBOS's recovery."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from dbos import DBOSClient
from sqlalchemy import select

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.killpoints import KILL_AT
from autopack.run.durable import dbos_url
from autopack.run.execute import create_run
from autopack.run.queued import RUNS_QUEUE
from autopack.run.runs_queue import runs_queue
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.progress import progress_after
from autopack.store.projects import register_project
from autopack.store.schema import RunRow
from autopack.testing.fake_llm import RateWindow, fake_llm_server
from autopack.testing.kills import ONE_PHASE_PLAN, committed_phases

AUTOPACK = str(Path(sys.executable).parent / "autopack")
QUICK = {
    "OPENAI_API_KEY": "test-key",
    "AUTOPACK_WORKER_POLL_SECONDS": "0.2",
    "AUTOPACK_HEARTBEAT_SECONDS": "0.5",
    # Dead workers are told by their pid on this host; a live one must never look dead when a
    # loaded machine delays its heartbeat.
    "AUTOPACK_STALE_SECONDS": "60",
}


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _projects(tmp_path: Path, llm_url: str, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Two projects, `calc-demo` and `other`, registered in one SQLite database."""
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    for name, value in QUICK.items():
        monkeypatch.setenv(name, value)
    roots = [tmp_path / "calc", tmp_path / "other"]
    for root in roots:
        create_project(root, extra_config=aliases_on(llm_url))
    toml = roots[1] / "autopack.toml"
    toml.write_text(toml.read_text().replace('id = "calc-demo"', 'id = "other"'))
    subprocess.run(["git", "commit", "-qam", "its own project"], cwd=roots[1], check=True)
    (tmp_path / "plan.md").write_text(ONE_PHASE_PLAN, encoding="utf-8")
    database = open_database(os.environ["AUTOPACK_DATABASE_URL"])
    try:
        for root in roots:
            register_project(database, root)
    finally:
        database.close()
    return roots


def _queue(root: Path, plan: Path, count: int) -> list[str]:
    settings = load_settings(root)
    return [create_run(settings, plan, RunOptions(), queue=True) for _ in range(count)]


def _worker(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [AUTOPACK, "worker", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ended_by(workers: list[subprocess.Popen[str]]) -> dict[str, str]:
    """Each run the `--once --json` workers carried to its end, and its state; each worker exited 0."""
    ended: dict[str, str] = {}
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        ended.update({end["run_id"]: end["state"] for end in json.loads(out)})
    return ended


def _taken_and_ended() -> dict[str, tuple[datetime | None, datetime | None, str]]:
    """Each run's (taken by a worker, ended, state)."""
    database = open_database(os.environ["AUTOPACK_DATABASE_URL"])
    try:
        with database.reading() as session:
            rows = session.execute(
                select(RunRow.run_id, RunRow.claimed_at, RunRow.ended_at, RunRow.state)
            ).all()
    finally:
        database.close()
    return {run_id: (taken, ended, state) for run_id, taken, ended, state in rows}


def _most_at_once(spans: list[tuple[datetime | None, datetime | None]]) -> int:
    """The most runs executing at one moment, from when each was taken to when it ended."""
    assert all(start and end for start, end in spans), spans
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _partitions(root: Path) -> dict[str, str | None]:
    with runs_queue(load_settings(root)) as client:
        rows = client.list_workflows(queue_name=RUNS_QUEUE, load_input=False, load_output=False)
    return {row.workflow_id: row.queue_partition_key for row in rows}


def test_a_worker_runs_two_projects_runs_in_their_partitions_two_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    with fake_llm_server(demo_reply) as llm:
        calc, other = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        # The busy project's runs were all queued before the quiet one's.
        busy = _queue(calc, tmp_path / "plan.md", 3)
        quiet = _queue(other, tmp_path / "plan.md", 1)
        assert _partitions(calc) == {
            **dict.fromkeys(busy, "calc-demo"),
            **dict.fromkeys(quiet, "other"),
        }
        worker = _worker("--once", "--json", "--repo", str(calc), AUTOPACK_WORKER_CONCURRENCY="2")
        workers.append(worker)
        out, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, err
    ended = {end["run_id"]: end["state"] for end in json.loads(out)}
    assert ended == dict.fromkeys(busy + quiet, "DONE_SUCCESS")
    runs = _taken_and_ended()
    assert _most_at_once([(taken, end) for taken, end, _ in runs.values()]) == 2
    for run_id in busy:
        assert committed_phases(calc, run_id) == ["1.1"]
    assert committed_phases(other, quiet[0]) == ["1.1"]


def test_the_global_limit_holds_across_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    with fake_llm_server(demo_reply) as llm:
        calc, other = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        queued = _queue(calc, tmp_path / "plan.md", 2) + _queue(other, tmp_path / "plan.md", 2)
        limits = {"AUTOPACK_WORKER_CONCURRENCY": "2", "AUTOPACK_GLOBAL_CONCURRENCY": "1"}
        for _ in range(2):
            workers.append(_worker("--once", "--json", "--repo", str(calc), **limits))
        ended = _ended_by(workers)
    assert ended == dict.fromkeys(queued, "DONE_SUCCESS")
    runs = _taken_and_ended()
    assert _most_at_once([(taken, end) for taken, end, _ in runs.values()]) == 1, runs


def test_two_workers_keep_one_providers_rate_limit_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    # The provider refuses more than 2 requests in any 2 s; each worker keeps 2 in 6 s (DBOS's
    # window is whole seconds here, and on a loaded machine a request may leave a second or two
    # after its permit): not each on its own, which would let 4 through, but both.
    with fake_llm_server(demo_reply, rate_limit=RateWindow(requests=2, seconds=2.0)) as llm:
        calc, other = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        queued = _queue(calc, tmp_path / "plan.md", 2) + _queue(other, tmp_path / "plan.md", 2)
        for _ in range(2):
            workers.append(
                _worker("--once", "--json", "--repo", str(calc), AUTOPACK_RATE_LIMITS="openai=2/6")
            )
        ended = _ended_by(workers)
        accepted, refused = list(llm.accepted_at), llm.faults_served["429"]
    assert ended == dict.fromkeys(queued, "DONE_SUCCESS")
    runs = _taken_and_ended()
    assert _most_at_once([(taken, end) for taken, end, _ in runs.values()]) == 2
    assert refused == 0
    assert len(accepted) >= 8
    ordered = sorted(accepted)
    assert all(later - earlier >= 2.0 for earlier, later in zip(ordered, ordered[2:], strict=False))


def test_a_sigkilled_workers_run_is_recovered_by_another_worker_through_dbos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    with fake_llm_server(demo_reply) as llm:
        calc, _ = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        (run_id,) = _queue(calc, tmp_path / "plan.md", 1)
        # Killed in the middle of the phase: the Builder's answer paid for, not yet recorded.
        killed = _worker("--repo", str(calc), **{KILL_AT: "step:build:returned#1"})
        workers.append(killed)
        assert killed.wait(timeout=300) == -signal.SIGKILL
        paid_before = sum(llm.calls_per_model.values())
        rescuer = _worker("--once", "--json", "--repo", str(calc))
        workers.append(rescuer)
        out, err = rescuer.communicate(timeout=600)
        paid = sum(llm.calls_per_model.values())
    assert rescuer.returncode == 0, err
    assert json.loads(out) == [{"run_id": run_id, "state": "DONE_SUCCESS"}]
    assert committed_phases(calc, run_id) == ["1.1"]  # committed once
    rescuer_id = f"{socket.gethostname()}-{rescuer.pid}"
    database = open_database(os.environ["AUTOPACK_DATABASE_URL"])
    try:
        with database.reading() as session:
            row = session.get(RunRow, run_id)
            assert row is not None
            assert row.executor_id == rescuer_id  # the lease passed to the rescuer
        finished = [
            e for e in progress_after(database, 0, run_id=run_id) if e.kind == "run_finished"
        ]
    finally:
        database.close()
    assert len(finished) == 1  # the run ended exactly once
    client = DBOSClient(system_database_url=dbos_url(load_settings(calc)))
    try:
        (workflow,) = client.list_workflows(workflow_ids=[run_id], load_output=False)
    finally:
        client.destroy()
    # DBOS re-enqueued it on its own queue and partition, and the rescuer dequeued it.
    assert (workflow.status, workflow.queue_name) == ("SUCCESS", RUNS_QUEUE)
    assert (workflow.queue_partition_key, workflow.executor_id) == ("calc-demo", rescuer_id)
    assert paid <= paid_before + 1  # only the killed build's answer paid again, at most


def test_a_queued_run_whose_resuming_cli_was_killed_goes_back_on_the_runs_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    with fake_llm_server(demo_reply) as llm:
        calc, _ = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        (run_id,) = _queue(calc, tmp_path / "plan.md", 1)
        # `autopack resume` carries the run on in its own process, on its own DBOS queue, and is
        # killed there: DBOS alone would recover the run onto that queue, where nobody listens.
        resumed = subprocess.run(
            [AUTOPACK, "resume", run_id, "--repo", str(calc)],
            env={**os.environ, KILL_AT: "step:build:returned#1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == -signal.SIGKILL, resumed.stderr
        rescuer = _worker("--once", "--json", "--repo", str(calc))
        workers.append(rescuer)
        out, err = rescuer.communicate(timeout=600)
    assert rescuer.returncode == 0, err
    assert json.loads(out) == [{"run_id": run_id, "state": "DONE_SUCCESS"}]
    assert committed_phases(calc, run_id) == ["1.1"]


def test_a_run_killed_between_store_and_enqueue_is_enqueued_by_sweep_with_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[subprocess.Popen[str]]
) -> None:
    with fake_llm_server(demo_reply) as llm:
        calc, _ = _projects(tmp_path, llm.openai_base_url, monkeypatch)
        store = (
            "import sys; from pathlib import Path\n"
            "from autopack.config import load_settings\n"
            "from autopack.run.execute import create_run\n"
            "from autopack.run.services import RunOptions\n"
            "create_run(load_settings(Path(sys.argv[1])), Path(sys.argv[2]),\n"
            "           RunOptions(no_sandbox=True, record=False), queue=True)\n"
        )
        killed = subprocess.run(
            [sys.executable, "-c", store, str(calc), str(tmp_path / "plan.md")],
            env={**os.environ, KILL_AT: "run:stored#1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        (run_id,) = _taken_and_ended()
        assert _partitions(calc) == {}  # stored, never enqueued
        swept = subprocess.run(
            [AUTOPACK, "sweep", "--stale-seconds", "0", "--repo", str(calc)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert swept.returncode == 0, swept.stderr
        assert swept.stdout.splitlines() == [f"{run_id}\tenqueued for a worker"]
        client = DBOSClient(system_database_url=dbos_url(load_settings(calc)))
        try:
            (workflow,) = client.list_workflows(workflow_ids=[run_id])
        finally:
            client.destroy()
        assert workflow.queue_partition_key == "calc-demo"
        assert workflow.input is not None
        saved = RunOptions.model_validate_json(workflow.input["args"][2])
        assert saved == RunOptions(no_sandbox=True, record=False)
        worker = _worker("--once", "--json", "--repo", str(calc))
        workers.append(worker)
        out, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, err
    assert json.loads(out) == [{"run_id": run_id, "state": "DONE_SUCCESS"}]
