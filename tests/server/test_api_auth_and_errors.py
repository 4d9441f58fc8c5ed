"""Tokens guard every endpoint but health; errors are problem documents naming the field."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.demo.developer import demo_reply
from autopack.testing.api_server import Api, start_api
from autopack.testing.fake_llm import Reply

PUBLIC = {"/health", "/health/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PLACEHOLDERS = {
    "run_id": "run-1",
    "phase_id": "1.1",
    "tier_id": "1",
    "name": "run",
    "project_id": "calc-demo",
    "offer_id": "0123456789abcdef",
}


def _operations(api: Api) -> list[tuple[str, str]]:
    with api.client(None) as client:
        schema = client.get("/openapi.json").json()
    operations = []
    for path, methods in schema["paths"].items():
        if path in PUBLIC:
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], path)
        operations += [(method.upper(), concrete) for method in methods]
    return operations


def _is_problem(response: httpx2.Response, status: int) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]


def test_every_endpoint_but_health_refuses_a_request_without_a_valid_token(
    idle_api: Api,
) -> None:
    operations = _operations(idle_api)
    assert len(operations) >= 20
    for token in (
        None,
        "apk_0000000000000000_wrong",
        "not-even-a-token",
        idle_api.read_token + "x",
    ):
        with idle_api.client(token) as client:
            for method, path in operations:
                response = client.request(method, path, json={} if method == "POST" else None)
                _is_problem(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
    with idle_api.client(None) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/health/ready").json()["status"] == "ready"
        # CORS is off unless configured: no browser on another origin may read the answers.
        answer = client.get("/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in answer.headers


def test_a_read_token_reads_but_cannot_start_cancel_resume_promote_or_record(
    idle_api: Api,
) -> None:
    with idle_api.client("read") as client:
        assert client.get("/runs").status_code == 200
        for method, path in _operations(idle_api):
            if method == "POST":
                _is_problem(client.post(path, json={"plan": "comprehensive_plan.md"}), 403)
    with idle_api.client("write") as client:
        assert client.get("/runs").status_code == 200


def test_a_revoked_token_is_refused_from_then_on(sqlite_api: Api) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["token", "create", "--name", "laptop", "--scope", "read", "--repo", str(sqlite_api.root)],
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("apk_")
    with sqlite_api.client(token) as client:
        assert client.get("/runs").status_code == 200
    listed = runner.invoke(app, ["token", "list", "--repo", str(sqlite_api.root), "--json"])
    assert token not in listed.stdout
    assert "laptop" in listed.stdout
    revoked = runner.invoke(app, ["token", "revoke", "laptop", "--repo", str(sqlite_api.root)])
    assert revoked.exit_code == 0, revoked.output
    with sqlite_api.client(token) as client:
        _is_problem(client.get("/runs"), 401)
    again = runner.invoke(
        app, ["token", "create", "--name", "ci-read", "--repo", str(sqlite_api.root)]
    )
    assert again.exit_code != 0
    assert "exists already" in again.output


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"plan": "comprehensive_plan.md", "plan_text": "x"}, "body"),
        ({"plan": ""}, "body.plan"),
        ({"plan": "comprehensive_plan.md", "llm": "../../x"}, "body.llm"),
        ({"plan": "comprehensive_plan.md", "surprise": 1}, "body.surprise"),
        ({"plan": "comprehensive_plan.md", "no_sandbox": "sometimes"}, "body.no_sandbox"),
    ],
)
def test_invalid_run_requests_get_422_naming_the_field(
    sqlite_api: Api, body: dict[str, object], field: str
) -> None:
    with sqlite_api.client() as client:
        response = client.post("/runs", json=body)
    _is_problem(response, 422)
    assert response.json()["detail"].startswith(field)
    assert response.json()["errors"][0]["field"].startswith(field)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("../../etc/passwd", "leaves the project root"),
        ("/etc/passwd", "relative to the project root"),
        ("calc/../../outside.md", "leaves the project root"),
        ("missing.md", "no file"),
    ],
)
def test_a_plan_path_outside_the_project_or_missing_is_refused(
    sqlite_api: Api, plan: str, message: str
) -> None:
    with sqlite_api.client() as client:
        response = client.post("/runs", json={"plan": plan})
        _is_problem(response, 422)
        assert message in response.json()["detail"]
        assert client.get("/runs").json()["total"] == 0


def test_unknown_and_malformed_ids_are_404_and_422_problems(sqlite_api: Api) -> None:
    with sqlite_api.client() as client:
        _is_problem(client.get("/runs/run-nope"), 404)
        _is_problem(client.get("/runs/run-nope/phases/1.1"), 404)
        _is_problem(client.get("/runs/bad%20id"), 422)
        _is_problem(client.get("/runs/.hidden"), 422)
        _is_problem(client.get("/runs/run-x/incidents/..%2F..%2Fetc"), 404)
        _is_problem(client.get("/projects/other/backlog"), 404)
        _is_problem(client.get("/runs", params={"limit": 0}), 422)
        _is_problem(client.get("/runs", params={"state": "NOT_A_STATE"}), 422)
        _is_problem(client.delete("/runs"), 405)


def test_a_queued_run_cancelled_before_any_worker_ends_at_once(idle_api: Api) -> None:
    with idle_api.client() as client:
        run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
        assert client.get("/health/ready").json()["queue_depth"] == 1
        cancelled = client.post(f"/runs/{run_id}/cancel", json={"reason": "wrong plan"})
        assert cancelled.status_code == 202, cancelled.text
        run = cancelled.json()
        assert run["state"] == "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
        assert run["failure"]["code"] == "review.cancelled"
        assert "wrong plan (by token ci-write)" in run["failure"]["message"]
        assert client.get("/health/ready").json()["queue_depth"] == 0
        assert "`review.cancelled`" in client.get(f"/runs/{run_id}/summary").text
        _is_problem(client.post(f"/runs/{run_id}/resume"), 409)
        # Cancelling an ended run changes nothing.
        assert client.post(f"/runs/{run_id}/cancel").json()["state"] == run["state"]
    assert sum(idle_api.llm.calls_per_model.values()) == 0


def test_a_running_run_cancelled_ends_before_its_next_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_call = threading.Event()
    go_on = threading.Event()

    def hold_first(api: str, request: dict[str, object]) -> Reply:
        if not first_call.is_set():
            first_call.set()
            go_on.wait(60)
        return demo_reply(api, request)

    for api in start_api(tmp_path, None, monkeypatch, script=hold_first):
        with api.client() as client:
            run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
            assert first_call.wait(60)
            response = client.post(f"/runs/{run_id}/cancel", json={"reason": "stop"})
            assert response.status_code == 202
            assert response.json()["cancel_requested"] == "stop (by token ci-write)"
            assert not response.json()["state"].startswith("DONE_")
            go_on.set()
            run = api.wait_for_end(run_id)
            assert run["state"] == "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
            assert run["failure"]["code"] == "review.cancelled"
            tiers = client.get(f"/runs/{run_id}").json()["tiers"]
            states = [p["state"] for t in tiers for p in t["phases"]]
            # The attempt under way finished and landed; the next phase ended before building.
            assert states == ["COMPLETE", "FAILED", "SKIPPED", "SKIPPED"]
            phase = client.get(f"/runs/{run_id}/phases/1.2").json()
            assert phase["attempts"] == []


def test_cors_answers_only_the_configured_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = "https://dash.example"
    for api in start_api(tmp_path, None, monkeypatch, run_worker=False, cors_origins=(origin,)):
        with api.client(None) as client:
            preflight = client.options(
                "/runs",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            other = client.get("/health", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers


PLAN_WITH_NUL = "# Plan\n\n## Tier 1: One\n\n### Phase 1.1: Add\x00 things\n\nDo it.\n"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"plan": "comprehensive_plan.md", "llm": "no-such-alias"}, "llm: unknown model alias"),
        ({"plan": "a" * 256}, "plan: "),
        ({"plan": "x/" * 200 + "plan.md"}, "plan: "),
        ({"plan": "calc\x01.md"}, "plan: must be a path"),
        ({"plan_text": PLAN_WITH_NUL}, "control character"),
    ],
)
def test_bad_inputs_are_refused_at_the_door_and_leave_nothing(
    sqlite_api: Api, body: dict[str, object], says: str
) -> None:
    uploads = sqlite_api.root / ".autonomous_runs" / "uploaded_plans"
    with sqlite_api.client() as client:
        response = client.post("/runs", json=body)
        _is_problem(response, 422)
        assert says in response.json()["detail"]
        assert client.get("/runs").json()["total"] == 0
    assert not uploads.exists() or not any(uploads.iterdir())


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Last-Event-ID": "\u00b2".encode()}, {}),
        ({"Last-Event-ID": "1" * 20}, {}),
        ({"Last-Event-ID": "-1"}, {}),
        ({}, {"after": 10**20}),
    ],
)
def test_event_ids_are_checked_at_the_door(
    sqlite_api: Api, headers: dict[str, str | bytes], params: dict[str, int]
) -> None:
    with sqlite_api.client() as client:
        for path in ("/events", "/runs/run-1/events"):
            response = client.get(path, headers=headers, params=params)
            _is_problem(response, 422)


def test_a_body_over_the_limit_is_refused_before_it_is_read_token_or_not(sqlite_api: Api) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)

    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    with sqlite_api.client(None) as anonymous:
        _is_problem(anonymous.post("/runs", content=big), 413)
    with sqlite_api.client() as client:
        response = client.post(
            "/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        _is_problem(response, 413)
        assert "10,485,760 bytes" in response.json()["detail"]
        assert client.get("/runs").json()["total"] == 0


def test_the_body_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for api in start_api(
        tmp_path,
        None,
        monkeypatch,
        run_worker=False,
        extra_config="\n[server]\nmax_body_bytes = 2048\n",
    ):
        with api.client() as client:
            response = client.post("/runs", json={"plan_text": "# Plan\n" + "x" * 4096})
            _is_problem(response, 413)
            assert "2,048 bytes" in response.json()["detail"]
            small = client.post("/runs", json={"plan": "missing.md"})
            _is_problem(small, 422)
