"""Three `autopack worker` processes on one PostgreSQL execute two projects' runs; one worker is
SIGKILLed in the middle of a phase. Every run still ends DONE_SUCCESS in its own repository, no
phase is committed twice or lost, and at most the killed attempt's call in flight is paid again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import create_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.projects import register_project
from autopack.store.schema import RunRow
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.kills import committed_phases
from autopack.testing.postgres import PostgresServer

AUTOPACK = str(Path(sys.executable).parent / "autopack")
RUNS_PER_PROJECT = 2
CALLS_PER_RUN = 9  # the demo plan's, scripted


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_worker_killed_mid_phase_leaves_no_run_lost_or_doubled(
    tmp_path: Path,
    postgres_server: PostgresServer,
    workers: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = postgres_server.create_database()
    clocks = {
        "AUTOPACK_DATABASE_URL": url,
        "OPENAI_API_KEY": "test-key",
        "AUTOPACK_WORKER_POLL_SECONDS": "0.2",
        "AUTOPACK_HEARTBEAT_SECONDS": "0.5",
        "AUTOPACK_STALE_SECONDS": "4",
    }
    for name, value in clocks.items():
        monkeypatch.setenv(name, value)
    with fake_llm_server(demo_reply) as llm:
        config = aliases_on(llm.openai_base_url)
        roots = [tmp_path / "calc", tmp_path / "other"]
        for root in roots:
            create_project(root, extra_config=config)
        toml = roots[1] / "autopack.toml"
        toml.write_text(toml.read_text().replace('id = "calc-demo"', 'id = "other"'))
        subprocess.run(["git", "commit", "-qam", "its own project"], cwd=roots[1], check=True)
        database = open_database(url)
        owner: dict[str, Path] = {}
        for root in roots:
            register_project(database, root)
            settings = load_settings(root)
            for _ in range(RUNS_PER_PROJECT):
                run_id = create_run(
                    settings, root / "comprehensive_plan.md", RunOptions(), queue=True
                )
                owner[run_id] = root
        for _ in range(3):
            workers.append(
                subprocess.Popen(
                    [AUTOPACK, "worker", "--repo", str(roots[0])],
                    env=dict(os.environ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        pids = {str(worker.pid): worker for worker in workers}

        # Wait for a worker to be in the middle of a phase, then kill it.
        victim = None
        deadline = time.monotonic() + 180
        while victim is None and time.monotonic() < deadline:
            with database.transaction() as session:
                driving = (
                    session.execute(
                        select(RunRow.executor_id).where(
                            RunRow.state == RunState.PHASE_EXECUTION.value,
                            RunRow.executor_id.is_not(None),
                        )
                    )
                    .scalars()
                    .all()
                )
            for executor in driving:
                worker = pids.get(executor.rsplit("-", 1)[1])
                if worker is not None:
                    victim = worker
                    break
            time.sleep(0.1)
        assert victim is not None, "no worker was ever seen in a phase"
        victim.send_signal(signal.SIGKILL)
        victim.wait()

        deadline = time.monotonic() + 420
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            with database.transaction() as session:
                states = {
                    run_id: state
                    for run_id, state in session.execute(select(RunRow.run_id, RunRow.state))
                }
            if all(state.startswith("DONE_") for state in states.values()):
                break
            time.sleep(0.5)
        database.close()
        paid = sum(llm.calls_per_model.values())
    assert set(states.values()) == {RunState.DONE_SUCCESS.value}, states
    for run_id, root in owner.items():
        assert sorted(committed_phases(root, run_id)) == ["1.1", "1.2", "2.1", "2.2"]  # each once
        other = roots[1] if root == roots[0] else roots[0]
        assert not subprocess.run(  # and only in its own repository
            ["git", "branch", "--list", f"autopack/{run_id}"],
            cwd=other,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    runs = len(owner)
    assert CALLS_PER_RUN * runs <= paid <= CALLS_PER_RUN * runs + 1
