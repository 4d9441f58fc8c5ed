"""Governance over the API: issue writes under concurrency, approval of high-risk phases."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from autopack.demo.developer import demo_reply
from autopack.testing.api_server import Api, start_api
from autopack.testing.fake_llm import Reply


def _queued_run(api: Api) -> str:
    with api.client() as client:
        started = client.post("/runs", json={"plan": "comprehensive_plan.md"})
        assert started.status_code == 202, started.text
        run_id: str = started.json()["run_id"]
        return run_id


def test_forty_concurrent_issue_posts_with_distinct_keys_keep_all_forty(idle_api: Api) -> None:
    run_id = _queued_run(idle_api)

    def post(number: int) -> int:
        with idle_api.client() as client:
            response = client.post(
                f"/runs/{run_id}/phases/1.1/issues",
                json={
                    "issue_key": f"review:finding-{number:02d}",
                    "severity": "minor",
                    "source": "ci",
                    "category": "review",
                    "summary": f"finding {number}",
                },
            )
            return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, range(40)))
    assert statuses == [201] * 40
    with idle_api.client() as client:
        index = client.get(f"/runs/{run_id}/issues").json()
        phase = client.get(f"/runs/{run_id}/phases/1.1").json()
    assert sorted(e["issue_key"] for e in index["entries"]) == [
        f"review:finding-{n:02d}" for n in range(40)
    ]
    assert len(phase["issues"]) == 40


def _auditor_without_report(api: str, request: dict[str, Any]) -> Reply:
    if "report" in str(request.get("tools", [])):
        return Reply(text="Looks fine to me!")
    return demo_reply(api, request)


@pytest.fixture
def unreviewed_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The demo served on SQLite with an Auditor that never gives a valid report."""
    yield from start_api(tmp_path, None, monkeypatch, script=_auditor_without_report)


def _run_page(api: Api, run_id: str) -> str:
    """The dashboard's run page, as a signed-in browser reads it."""
    with httpx2.Client(base_url=api.base_url, timeout=60) as browser:
        signed_in = browser.post("/ui/login", data={"token": api.read_token})
        assert signed_in.status_code == 303
        return browser.get(f"/ui/runs/{run_id}").text


def _phase(view: dict[str, Any], phase_id: str) -> dict[str, Any]:
    phase: dict[str, Any] = next(
        p for t in view["tiers"] for p in t["phases"] if p["phase_id"] == phase_id
    )
    return phase


def test_a_phase_awaiting_approval_is_approved_over_the_api_and_then_promoted(
    unreviewed_api: Api,
) -> None:
    api = unreviewed_api
    run_id = _queued_run(api)
    assert api.wait_for_end(run_id)["state"] == "DONE_SUCCESS"
    with api.client() as client:
        view = client.get(f"/runs/{run_id}").json()
        assert _phase(view, "2.1")["approval"] == "pending"
        assert _phase(view, "1.1")["approval"] is None
        assert '<span class="badge blocked">awaits approval</span>' in _run_page(api, run_id)
        refused = client.post(f"/runs/{run_id}/promote")
        assert refused.status_code == 409
        assert any("2.1 await approval" in reason for reason in refused.json()["reasons"])

        with api.client("read") as reader:
            assert reader.post(f"/runs/{run_id}/phases/2.1/approve").status_code == 403
        nothing = client.post(f"/runs/{run_id}/phases/1.1/approve")
        assert nothing.status_code == 409
        assert "nothing to approve" in nothing.json()["detail"]
        assert client.post(f"/runs/{run_id}/phases/9.9/approve").status_code == 404

        approved = client.post(f"/runs/{run_id}/phases/2.1/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["approval"] == "approved"
        assert approved.json()["approved_by"] == "token ci-write"
        assert approved.json()["approved_at"]
        view = client.get(f"/runs/{run_id}").json()
        assert _phase(view, "2.1")["approved_by"] == "token ci-write"
        page = _run_page(api, run_id)
        assert "approved by token ci-write" in page
        assert '<span class="badge blocked">awaits approval</span>' not in page
        summary = client.get(f"/runs/{run_id}/summary").text
        assert f"phase 2.1 of {run_id} by token ci-write" in summary
        promoted = client.post(f"/runs/{run_id}/promote")
        assert promoted.status_code == 200, promoted.text
