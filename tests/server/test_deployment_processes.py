"""The docker-compose layout without Docker: `autopack serve --no-worker` and two `autopack worker`
processes on one PostgreSQL started by the test; runs posted to the API are each executed once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.vocabulary import TokenScope
from autopack.store.engine import open_database
from autopack.store.schema import RunRow
from autopack.store.tokens import create_token
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.postgres import PostgresServer

AUTOPACK = str(Path(sys.executable).parent / "autopack")
RUNS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"autopack serve exited with {process.returncode}")
        try:
            if httpx2.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("autopack serve did not become ready")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_api_and_two_workers_on_postgres_execute_each_posted_run_once(
    tmp_path: Path, postgres_server: PostgresServer, processes: list[subprocess.Popen[bytes]]
) -> None:
    url = postgres_server.create_database()
    env = {
        **os.environ,
        "AUTOPACK_DATABASE_URL": url,
        "OPENAI_API_KEY": "test-key",
        "AUTOPACK_WORKER_POLL_SECONDS": "0.2",
    }
    with fake_llm_server(demo_reply) as llm:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(llm.openai_base_url))
        database = open_database(url)
        token, _ = create_token(database, "deploy", TokenScope.WRITE)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        serve = [AUTOPACK, "serve", "--repo", str(root), "--port", str(port), "--no-worker"]
        processes.append(subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL))
        _wait_ready(base_url, processes[0])
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [AUTOPACK, "worker", "--repo", str(root)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        headers = {"Authorization": f"Bearer {token}"}
        with httpx2.Client(base_url=base_url, headers=headers, timeout=60) as client:
            assert client.get("/health/ready").json()["worker"] == "external"
            run_ids = [
                client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
                for _ in range(RUNS)
            ]
            deadline = time.monotonic() + 240
            states: dict[str, str] = {}
            while time.monotonic() < deadline:
                states = {r: client.get(f"/runs/{r}").json()["run"]["state"] for r in run_ids}
                if all(s.startswith("DONE_") for s in states.values()):
                    break
                time.sleep(0.5)
            assert set(states.values()) == {"DONE_SUCCESS"}, states
            for run_id in run_ids:
                commits = client.get(f"/runs/{run_id}/integration").json()["commits"]
                assert len(commits) == 4  # each run executed exactly once
        # Every call of every run was billed once: 9 per run.
        assert sum(llm.calls_per_model.values()) == 9 * RUNS
        with database.transaction() as session:
            executors = set(session.scalars(select(RunRow.executor_id)))
        database.close()
        # Runs were executed by the worker processes, never by the API process.
        worker_pids = {str(process.pid) for process in processes[1:]}
        assert {executor.rsplit("-", 1)[1] for executor in executors} <= worker_pids
