"""API throughput and latency with 100 stored runs: run-status reads and event-stream replays.

`autopack serve --no-worker` runs as its own process (one uvicorn worker) on SQLite, then on a
throwaway PostgreSQL; a client process sends requests from 8 threads. Each stored run has the 37
progress events of a demo run, so a stream replay sends 37 events and ends.

The run-status reads are measured with the database idle, then with a worker writing — a third
process that drives runs through their phases as fast as it can, each step a transaction as a live
run's (state changes, progress events, attempts, ledger rows), without pauses for a model or a CI
command, so it writes far more often than a real worker does — from the 8 threads, and from one
client alone (a dashboard polling), whose latency has no queue of other clients in it.

    .venv/bin/python bench/api.py [--runs 100] [--reads 3000] [--streams 300] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import FrameType

import httpx2

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.domain.machines import PhaseEvent, RunEvent, TierEvent
from autopack.domain.vocabulary import Role, TokenScope
from autopack.store.attempts import finish_attempt, start_attempt
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.ledger import LlmCallRecord, record_llm_call
from autopack.store.progress import record_progress
from autopack.store.runs import create_run
from autopack.store.state_changes import transition_phase, transition_run, transition_tier
from autopack.store.tokens import create_token
from autopack.testing.postgres import postgres_unavailable_reason, running_postgres
from autopack.testing.runs import blueprint

AUTOPACK = str(Path(sys.executable).parent / "autopack")
EVENTS_PER_RUN = 37


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(root: Path, runs: int) -> tuple[list[str], str]:
    settings = load_settings(root)
    database = open_database(database_url_for(root, os.environ))
    run_ids = []
    for number in range(runs):
        run_id = f"run-bench-{number:04d}"
        create_run(
            database, blueprint(run_id).model_copy(update={"project_id": settings.project.id})
        )
        for sequence in range(EVENTS_PER_RUN - 1):
            record_progress(
                database, run_id, "attempt", {"phase": "a", "attempt": 1, "step": f"s{sequence}"}
            )
        record_progress(database, run_id, "run_finished", {"state": "DONE_SUCCESS"})
        run_ids.append(run_id)
    token, _ = create_token(database, "bench", TokenScope.READ)
    database.close()
    return run_ids, token


def _drive_one_run(database: Database, run_id: str, project_id: str) -> int:
    """Store a run and take it to its end as the executor does, one transaction per step; the
    number of transactions."""
    create_run(database, blueprint(run_id).model_copy(update={"project_id": project_id}))
    transition_run(database, run_id, RunEvent.STRATEGY_FROZEN, cause="bench")
    transition_run(database, run_id, RunEvent.QUEUE_OPENED, cause="bench")
    done = 3
    for tier_id, phase_ids in (("1", ("a", "b")), ("2", ("c",))):
        transition_tier(database, run_id, tier_id, TierEvent.START, cause="bench")
        done += 1
        for phase_id in phase_ids:
            where = {"phase": phase_id, "attempt": 1}
            transition_run(database, run_id, RunEvent.PHASE_STARTED, cause="bench")
            transition_phase(database, run_id, phase_id, PhaseEvent.START, cause="bench")
            record_progress(database, run_id, "attempt", {**where, "step": "builder"})
            attempt = start_attempt(database, run_id, phase_id, Role.BUILDER, "fake")
            record_llm_call(
                database,
                LlmCallRecord(
                    run_id=run_id,
                    tier_id=tier_id,
                    phase_id=phase_id,
                    attempt=1,
                    role=Role.BUILDER,
                    provider="fake",
                    model="fake",
                    input_tokens=1200,
                    output_tokens=300,
                    usd=Decimal("0.002"),
                    latency_ms=900,
                    outcome="ok",
                ),
            )
            record_progress(database, run_id, "llm", {**where, "what": "builder"})
            finish_attempt(database, attempt.id, outcome="ok", tokens=1500, usd=Decimal("0.002"))
            transition_phase(database, run_id, phase_id, PhaseEvent.SUBMIT, cause="bench")
            transition_run(database, run_id, RunEvent.PATCH_PROPOSED, cause="bench")
            transition_phase(database, run_id, phase_id, PhaseEvent.GATE_PASS, cause="bench")
            transition_run(database, run_id, RunEvent.GATE_PASSED, cause="bench")
            record_progress(database, run_id, "verified", {**where, "seconds": 1.0})
            transition_phase(database, run_id, phase_id, PhaseEvent.CI_PASS, cause="bench")
            transition_run(database, run_id, RunEvent.CI_PASSED, cause="bench")
            transition_run(database, run_id, RunEvent.SNAPSHOT_TAKEN, cause="bench")
            done += 16
        transition_tier(database, run_id, tier_id, TierEvent.FINISH, cause="bench")
        done += 1
    transition_run(database, run_id, RunEvent.ALL_PHASES_DONE, cause="bench")
    record_progress(database, run_id, "run_finished", {"state": "DONE_SUCCESS"})
    return done + 2


def write_as_worker(database_url: str, project_id: str) -> None:
    """Write like a live run until SIGTERM, then print how many transactions and how fast."""
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    database = open_database(database_url)
    transactions, number = 0, 0
    print("writing", flush=True)
    started = time.perf_counter()
    while not stopping.is_set():
        number += 1
        transactions += _drive_one_run(database, f"run-writer-{number:05d}", project_id)
    elapsed = time.perf_counter() - started
    database.close()
    print(json.dumps({"transactions": transactions, "seconds": elapsed}), flush=True)


class Writer:
    """The writing worker as its own process, started and stopped around a measurement."""

    def __init__(self, database_url: str, project_id: str, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--write-as-worker", database_url, project_id],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "writing":
            raise RuntimeError("the writing worker did not start")

    def stop(self) -> float:
        """Transactions per second it committed."""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        figures = json.loads(output.strip().splitlines()[-1])
        return float(figures["transactions"] / figures["seconds"])


def _load(
    count: int, threads: int, call: Callable[[httpx2.Client], None], base_url: str, token: str
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = count // threads

    def worker() -> None:
        with httpx2.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            mine = []
            for _ in range(per_thread):
                started = time.perf_counter()
                call(client)
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(database_url: str | None, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    env = {**os.environ}
    if database_url:
        env["AUTOPACK_DATABASE_URL"] = database_url
        os.environ["AUTOPACK_DATABASE_URL"] = database_url
    else:
        env.pop("AUTOPACK_DATABASE_URL", None)
        os.environ.pop("AUTOPACK_DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "calc"
        create_project(root)
        run_ids, token = _seed(root, args.runs)
        url = database_url or database_url_for(root, {})
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [AUTOPACK, "serve", "--repo", str(root), "--port", str(port), "--no-worker"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx2.get(f"{base_url}/health", timeout=2).status_code == 200:
                        break
                except httpx2.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.2)
            rng = random.Random(1)

            def read(client: httpx2.Client) -> None:
                response = client.get(f"/runs/{rng.choice(run_ids)}")
                assert response.status_code == 200, response.text

            def stream(client: httpx2.Client) -> None:
                events = 0
                with client.stream("GET", f"/runs/{rng.choice(run_ids)}/events") as response:
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            events += 1
                            if json.loads(line[6:])["kind"] == "run_finished":
                                break
                assert events == EVENTS_PER_RUN, events

            def figures_of(wall: float, latencies: list[float]) -> dict[str, float]:
                return {
                    "per_second": len(latencies) / wall,
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": _percentile(latencies, 0.99) * 1000,
                }

            figures = {}
            for name, count, call in (
                ("run status", args.reads, read),
                ("event stream", args.streams, stream),
            ):
                _load(min(count, 50), args.threads, call, base_url, token)  # warm-up
                figures[name] = figures_of(*_load(count, args.threads, call, base_url, token))
            writer = Writer(url, load_settings(root).project.id, env)
            try:
                _load(50, args.threads, read, base_url, token)  # warm-up
                figures["status, writing"] = figures_of(
                    *_load(args.reads, args.threads, read, base_url, token)
                )
                # One client alone, as a dashboard polling: its latency is the server's time
                # plus any wait for the writer, with no queue of other clients in front of it.
                figures["status, writing, 1 client"] = figures_of(
                    *_load(args.reads // 6, 1, read, base_url, token)
                )
            finally:
                writes = writer.stop()
            figures["status, writing"]["writes_per_second"] = writes
            figures["status, writing, 1 client"]["writes_per_second"] = writes
            return figures
        finally:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
    if sys.argv[1:2] == ["--write-as-worker"]:
        write_as_worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    results = {"sqlite": measure(None, args)}
    reason = postgres_unavailable_reason()
    if reason is None:
        with running_postgres() as server:
            results["postgresql"] = measure(server.create_database(), args)
    else:
        print(f"postgresql: skipped ({reason})")
    print(f"{args.runs} stored runs, {args.threads} client threads, one server process")
    for database, figures in results.items():
        for name, figure in figures.items():
            unit = f"streams of {EVENTS_PER_RUN} events" if name == "event stream" else "requests"
            writing = (
                f" ({figure['writes_per_second']:.0f} write transactions/s beside)"
                if "writes_per_second" in figure
                else ""
            )
            print(
                f"{database:10} {name:24}: {figure['per_second']:7.1f} {unit}/s, "
                f"p50 {figure['p50_ms']:6.1f} ms, p99 {figure['p99_ms']:6.1f} ms{writing}"
            )


if __name__ == "__main__":
    main()
