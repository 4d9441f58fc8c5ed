"""A run whose process was interrupted (tests/cli/test_interrupts.py interrupts real ones) reads as
interrupted over the API and on the dashboard, with the command that resumes it, and the API
resumes it at once (its executor's last heartbeat is recent, but it beats no more)."""

from __future__ import annotations

from contextlib import closing

import httpx2

from autopack.store.checkpoints import mark_interrupted
from autopack.store.leases import beat
from autopack.testing.api_server import Api


def test_the_api_and_the_dashboard_show_an_interrupted_run(idle_api: Api) -> None:
    with idle_api.client() as client:
        run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
        assert client.get(f"/runs/{run_id}").json()["run"]["interrupted_at"] is None

        beat(idle_api.database, run_id, "a-laptop-1234")
        assert client.post(f"/runs/{run_id}/resume").status_code == 409  # being executed

        mark_interrupted(idle_api.database, [run_id])

        assert client.get(f"/runs/{run_id}").json()["run"]["interrupted_at"] is not None
        (listed,) = client.get("/runs").json()["runs"]
        assert listed["interrupted_at"] is not None
        resumed = client.post(f"/runs/{run_id}/resume")
        assert resumed.status_code == 202, resumed.text
        assert resumed.json()["queued"] is True
    with closing(httpx2.Client(base_url=idle_api.base_url, timeout=60)) as page:
        page.post("/ui/login", data={"token": idle_api.read_token})
        assert '<span class="badge">interrupted</span>' in page.get("/ui/").text
        assert f"<code>autopack resume {run_id}</code>" in page.get(f"/ui/runs/{run_id}").text
