"""The dashboard reads without JavaScript: sign in with a token, then every page is plain HTML."""

from __future__ import annotations

from contextlib import closing

import httpx2

from autopack.testing.api_server import Api


def _signed_in(api: Api) -> httpx2.Client:
    client = httpx2.Client(base_url=api.base_url, timeout=60, follow_redirects=False)
    response = client.post("/ui/login", data={"token": api.read_token})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    return client


def test_pages_need_a_sign_in_and_a_wrong_token_is_told_so(sqlite_api: Api) -> None:
    with httpx2.Client(base_url=sqlite_api.base_url, timeout=30) as client:
        for page in ("/ui/", "/ui/backlog", "/ui/budget", "/ui/runs/run-1"):
            response = client.get(page)
            assert response.status_code == 303
            assert response.headers["location"] == "/ui/login"
        wrong = client.post("/ui/login", data={"token": "apk_nope_nope"})
        assert wrong.status_code == 200
        assert "unknown or revoked" in wrong.text


def test_every_page_renders_a_finished_run_without_javascript(sqlite_api: Api) -> None:
    with sqlite_api.client() as api_client:
        run_id = api_client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
    sqlite_api.wait_for_end(run_id)
    with closing(_signed_in(sqlite_api)) as client:
        runs = client.get("/ui/").text
        assert f'href="/ui/runs/{run_id}"' in runs
        assert "DONE_SUCCESS" in runs
        assert "normal" in runs  # safety profile

        run = client.get(f"/ui/runs/{run_id}").text
        assert "Tier 1: Operations" in run
        assert "Division that refuses zero" in run
        assert run.count("<details>") == 4  # one diff per committed phase
        assert "cannot divide by zero" in run
        assert "run ended DONE_SUCCESS" in run
        assert "builder" in run
        assert "auditor" in run
        assert f'sse-connect="/runs/{run_id}/events?after=' in run

        assert "Issue backlog" in client.get("/ui/backlog").text
        assert "No run has ended on a budget cap." in client.get("/ui/budget").text
        static = client.get("/ui/static/htmx.min.js")
        assert static.status_code == 200
        assert "htmx" in static.text[:2000]

        # The cookie opens reads only: acting still needs the header.
        refused = client.post(f"/runs/{run_id}/cancel", json={})
        assert refused.status_code == 401
        assert client.get(f"/runs/{run_id}").status_code == 200
