"""The all-runs event stream, resume onto the queue, and a worker that drains it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from autopack.run.worker import work
from autopack.store.leases import beat
from autopack.testing.api_server import Api

AUTOPACK = str(Path(sys.executable).parent / "autopack")


def test_the_all_runs_stream_shows_a_run_posted_after_it_opened(sqlite_api: Api) -> None:
    seen: list[dict[str, object]] = []
    opened = threading.Event()

    def listen() -> None:
        with sqlite_api.client("read") as client, client.stream("GET", "/events") as stream:
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    seen.append(event)
                    if event["kind"] == "run_finished":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30)
    with sqlite_api.client() as client:
        run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
    listener.join(120)
    assert not listener.is_alive()
    assert {event["run_id"] for event in seen} == {run_id}
    assert seen[0]["kind"] == "run_started"
    ids = [int(str(event["id"])) for event in seen]
    assert ids == sorted(ids)
    assert seen[-1]["state"] == "DONE_SUCCESS"


def test_resume_requeues_a_run_whose_executor_is_silent_and_a_worker_finishes_it(
    idle_api: Api,
) -> None:
    with idle_api.client() as client:
        run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
        # An executor that is alive holds the run: resuming it is refused.
        beat(idle_api.database, run_id, "host-1")
        refused = client.post(f"/runs/{run_id}/resume")
        assert refused.status_code == 409
        assert "being executed" in refused.json()["detail"]
        with idle_api.database.transaction() as session:
            from autopack.store.schema import RunRow, utc_now

            row = session.get(RunRow, run_id)
            assert row is not None
            row.heartbeat_at = utc_now() - timedelta(hours=1)
            row.claimed_at = utc_now() - timedelta(hours=1)
        resumed = client.post(f"/runs/{run_id}/resume")
        assert resumed.status_code == 202, resumed.text
        assert resumed.json()["queued"] is True
        ended = work(idle_api.context.settings, threading.Event(), once=True)
        assert [(end.run_id, end.state.value) for end in ended] == [(run_id, "DONE_SUCCESS")]
        assert client.get(f"/runs/{run_id}").json()["run"]["state"] == "DONE_SUCCESS"
        assert client.get("/health/ready").json()["queue_depth"] == 0


def test_autopack_watch_follows_a_run_a_worker_executes(idle_api: Api) -> None:
    with idle_api.client() as client:
        run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
    # `autopack watch` is its own process, started before any worker takes the run.
    watch = subprocess.Popen(
        [AUTOPACK, "watch", run_id, "--repo", str(idle_api.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ended = work(idle_api.context.settings, threading.Event(), once=True)
    assert [end.state.value for end in ended] == ["DONE_SUCCESS"]
    out, err = watch.communicate(timeout=120)
    assert watch.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"run {run_id}: 4 phases"
    assert lines[-1] == "run ended DONE_SUCCESS"
    assert sum("committed" in line for line in lines) == 4
    # Spend against the run's budget, as `autopack run` shows it.
    last_build = [line for line in lines if "Builder finished" in line][-1]
    assert last_build.endswith("(run: 27,500 of 5,000,000 tokens, $0.0638 of $50.00)")
    missing = subprocess.run(
        [AUTOPACK, "watch", "run-nope", "--repo", str(idle_api.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0
    assert "run-nope" in missing.stderr
