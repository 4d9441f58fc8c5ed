"""API throughput and latency with 100 stored runs: run-status reads and event-stream replays.

`autopack serve --no-worker` runs as its own process (one uvicorn worker) on SQLite, then on a
throwaway PostgreSQL; a client process sends requests from 8 threads. Each stored run has the 37
progress events of a demo run, so a stream replay sends 37 events and ends.

    .venv/bin/python bench/api.py [--runs 100] [--reads 3000] [--streams 300] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.store.engine import database_url_for, open_database
from autopack.store.progress import record_progress
from autopack.store.runs import create_run
from autopack.store.tokens import Scope, create_token
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
    token, _ = create_token(database, "bench", Scope.READ)
    database.close()
    return run_ids, token


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

            figures = {}
            for name, count, call in (
                ("run status", args.reads, read),
                ("event stream", args.streams, stream),
            ):
                _load(min(count, 50), args.threads, call, base_url, token)  # warm-up
                wall, latencies = _load(count, args.threads, call, base_url, token)
                figures[name] = {
                    "per_second": len(latencies) / wall,
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": _percentile(latencies, 0.99) * 1000,
                }
            return figures
        finally:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
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
            unit = "requests" if name == "run status" else f"streams of {EVENTS_PER_RUN} events"
            print(
                f"{database:10} {name:12}: {figure['per_second']:7.1f} {unit}/s, "
                f"p50 {figure['p50_ms']:6.1f} ms, p99 {figure['p99_ms']:6.1f} ms"
            )


if __name__ == "__main__":
    main()
