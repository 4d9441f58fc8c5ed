"""A run started over the API, executed by the in-process worker, read through every endpoint."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta

from autopack.testing.api_server import Api


def _git(api: Api, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=api.root, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_run_started_over_the_api_ends_done_success_and_every_view_shows_it(api: Api) -> None:
    with api.client() as client:
        started = client.post("/runs", json={"plan": "comprehensive_plan.md"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert started.headers["location"] == f"/runs/{run_id}"
        assert started.json()["queued"] is True

        run = api.wait_for_end(run_id)
        assert run["state"] == "DONE_SUCCESS", run
        assert run["spend"]["calls"] == 9
        assert run["spend"]["tokens"] > 0
        assert run["ci_runs"] == 4

        listing = client.get("/runs", params={"state": "DONE_SUCCESS"}).json()
        assert [r["run_id"] for r in listing["runs"]] == [run_id]
        assert listing["total"] == 1
        assert client.get("/runs", params={"state": "DONE_FAILED_ENVIRONMENT"}).json()["total"] == 0

        view = client.get(f"/runs/{run_id}").json()
        assert [t["tier_id"] for t in view["tiers"]] == ["1", "2"]
        assert all(p["state"] == "COMPLETE" for t in view["tiers"] for p in t["phases"])

        strategy = client.get(f"/runs/{run_id}/strategy").json()
        assert [p["phase_id"] for t in strategy["tiers"] for p in t["phases"]] == [
            "1.1",
            "1.2",
            "2.1",
            "2.2",
        ]

        phase = client.get(f"/runs/{run_id}/phases/2.1").json()
        assert phase["phase"]["task_category"] == "security_auth_change"
        assert [a["role"] for a in phase["attempts"]] == ["builder"]

        integration = client.get(f"/runs/{run_id}/integration").json()
        assert integration["branch"] == f"autopack/{run_id}"
        assert len(integration["commits"]) == 4
        assert integration["head_commit"] == _git(api, "rev-parse", f"autopack/{run_id}")

        ledger = client.get(f"/runs/{run_id}/ledger").json()
        assert len(ledger["calls"]) == 9
        assert {s["key"] for s in ledger["by_role"]} == {"builder", "auditor"}
        assert ledger["total_tokens"] == run["spend"]["tokens"]

        metrics = client.get(f"/runs/{run_id}/metrics").json()
        assert metrics["phases_by_state"] == {"COMPLETE": 4}
        assert metrics["attempts"] == 4
        assert {s["key"] for s in metrics["by_category"]} >= {"feature:low", "docs:low"}
        tier = client.get(f"/runs/{run_id}/tiers/2/metrics").json()
        assert tier["cleanliness"] == "clean"
        assert tier["tokens"] > 0
        assert tier["budget_tokens"] > tier["tokens"]

        summary = client.get(f"/runs/{run_id}/summary")
        assert summary.headers["content-type"].startswith("text/markdown")
        assert "DONE_SUCCESS" in summary.text
        assert client.get(f"/runs/{run_id}/incidents").json() == []
        assert client.get(f"/runs/{run_id}/issues").json()["run_id"] == run_id

        issue = client.post(
            f"/runs/{run_id}/phases/1.1/issues",
            json={"issue_key": "docs:missing-example", "severity": "minor", "category": "docs"},
        )
        assert issue.status_code == 201, issue.text
        again = client.post(
            f"/runs/{run_id}/phases/1.1/issues",
            json={"issue_key": "docs:missing-example", "severity": "major", "category": "docs"},
        ).json()
        assert again["occurrence_count"] == 2
        assert again["severity"] == "major"
        index = client.get(f"/runs/{run_id}/issues").json()
        assert [e["issue_key"] for e in index["entries"]] == ["docs:missing-example"]
        assert client.get(f"/runs/{run_id}/phases/1.1").json()["issues"][0]["occurrence_count"] == 2

        assert client.get("/projects/calc-demo/backlog").json() == []
        assert client.get("/reports/backlog").json()["open"] == 0
        budget = client.get("/reports/budget").json()
        assert budget["runs_ended_on_caps"] == []
        assert budget["top_tiers"][0]["spend"]["usd"] != "0"

        scraped = client.get("/metrics").text
        assert 'autopack_runs{state="DONE_SUCCESS"} 1.0' in scraped
        assert 'autopack_llm_calls_total{category="security_auth_change"' in scraped
        assert "autopack_ci_duration_seconds_count 4.0" in scraped
        assert "autopack_queue_depth 0.0" in scraped

        with client.stream("GET", f"/runs/{run_id}/events") as stream:
            kinds = [
                json.loads(line.removeprefix("data: "))["kind"]
                for line in stream.iter_lines()
                if line.startswith("data: ")
            ]
        assert kinds[0] == "run_started"
        assert kinds[-1] == "run_finished"
        assert kinds.count("committed") == 4

        main_before = _git(api, "rev-parse", "main")
        promoted = client.post(f"/runs/{run_id}/promote", json={})
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["into"] == "main"
        assert _git(api, "rev-parse", "main") == promoted.json()["head"] != main_before


def test_a_failed_run_from_plan_text_offers_its_incident_pack_as_a_zip(sqlite_api: Api) -> None:
    # The scripted developer knows no phase 9.1: every attempt changes nothing.
    plan = "# Extra\n\n## Tier 1: More\n\n### Phase 9.1: Something new\ncategory: docs\n\nDo it.\n"
    with sqlite_api.client() as client:
        run_id = client.post("/runs", json={"plan_text": plan}).json()["run_id"]
        run = sqlite_api.wait_for_end(run_id)
        assert run["state"] == "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
        assert run["failure"]["code"] == "review.phase_failed"
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        for params, total in (
            ({"failure": "review"}, 1),
            ({"failure": "review.phase_failed"}, 1),
            ({"failure": "review.phase"}, 0),
            ({"failure": "budget"}, 0),
            ({"created_after": later}, 0),
            ({"created_after": earlier, "created_before": later}, 1),
            ({"created_before": earlier}, 0),
        ):
            assert client.get("/runs", params=params).json()["total"] == total, params
        bad = client.get("/runs", params={"failure": "Budget!"})
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("query.failure")
        strategy = client.get(f"/runs/{run_id}/strategy").json()
        assert "uploaded_plans" in strategy["plan_source"]
        [name] = client.get(f"/runs/{run_id}/incidents").json()
        assert name.startswith("9.1-a")
        pack = client.get(f"/runs/{run_id}/incidents/{name}")
        assert pack.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
            names = set(archive.namelist())
            assert f"{name}/REPLAY.md" in names
            assert "autopack run" in archive.read(f"{name}/REPLAY.md").decode()
        assert client.get(f"/runs/{run_id}/incidents/nothing-here").status_code == 404
        refused = client.post(f"/runs/{run_id}/promote", json={})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reasons"]
