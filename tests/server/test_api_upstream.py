"""The upstream system's API replayed against ours: each request in upstream's own shape, each
answer as docs/migration-from-upstream.md says, over real HTTP with real runs.

The request bodies below are upstream's schemas filled in: hshk99/Autopack at commit
c72e51500e540f508a88d87e94f59e8a480a977c, src/autopack/schemas.py (RunStartRequest = RunCreate,
TierCreate, PhaseCreate; PhaseCreate's `scope` from the later 78fa197f2d98 schemas.py;
PhaseStatusUpdate) and src/autopack/builder_schemas.py (BuilderResult, AuditorRequest,
AuditorResult); record_issue's query parameters are main.py's record_phase_issue's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.issues import BacklogEntry
from autopack.domain.vocabulary import IssueSource, IssueState, Severity, TokenScope
from autopack.server.api_upstream import MOVED, REMOTE_BUILDER
from autopack.server.upstream_reports import backlog_summary
from autopack.store.tokens import create_token
from autopack.testing.api_server import Api, start_api

MOVED_TYPE = "https://autopack.dev/problems/upstream-moved"


def upstream_start(run_id: str, **run: Any) -> dict[str, Any]:
    """A RunStartRequest for the demo project's tier 1 (the scripted developer builds by phase
    id), with upstream's category names (a high-risk one, so the Auditor reviews it) and
    PhaseCreate.scope's paths and read_only_context."""
    return {
        "run": {
            "run_id": run_id,
            "safety_profile": "normal",
            "run_scope": "multi_tier",
            "token_cap": 5_000_000,
            "max_phases": 25,
            "max_duration_minutes": 120,
            **run,
        },
        "tiers": [
            {"tier_id": "1", "tier_index": 0, "name": "Operations", "description": "Missing ops"}
        ],
        "phases": [
            {
                "phase_id": "1.2",
                "phase_index": 1,
                "tier_id": "1",
                "name": "Add multiplication",
                "description": "Add `multiply(a, b)` to calc/ops.py with a unit test.",
                "task_category": "security_auth",
                "complexity": "low",
                "builder_mode": "tweak_light",
                "scope": {"paths": ["calc/ops.py", "tests/test_multiply.py"]},
            },
            {
                "phase_id": "1.1",
                "phase_index": 0,
                "tier_id": "1",
                "name": "Add subtraction",
                "description": "Add `subtract(a, b)` to calc/ops.py with a unit test.",
                "task_category": "feature_scaffolding",
                "complexity": "low",
                "builder_mode": None,
                "scope": {
                    "paths": ["calc/ops.py", "tests/test_subtract.py"],
                    "read_only_context": [{"path": "calc/__init__.py", "reason": "package"}],
                },
            },
        ],
    }


ISSUE = {"issue_key": "docs:missing-example", "severity": "minor", "category": "docs"}
BUILDER_RESULT = {
    "phase_id": "1.1",
    "run_id": "upstream-demo",
    "patch_content": "diff --git a/calc/ops.py b/calc/ops.py\n",
    "files_changed": ["calc/ops.py"],
    "lines_added": 3,
    "lines_removed": 0,
    "builder_attempts": 1,
    "tokens_used": 1200,
    "duration_minutes": 0.5,
    "probe_results": [{"probe_type": "pytest", "exit_code": 0, "stdout": "1 passed"}],
    "suggested_issues": [ISSUE | {"source": "cursor_self_doubt", "evidence_refs": []}],
    "status": "success",
    "notes": "done",
}
AUDITOR_REQUEST = {
    "phase_id": "1.1",
    "run_id": "upstream-demo",
    "tier_id": "1",
    "builder_result": BUILDER_RESULT,
    "review_focus": "general",
}
AUDITOR_RESULT = {
    "phase_id": "1.1",
    "run_id": "upstream-demo",
    "review_notes": "fine",
    "issues_found": [],
    "suggested_patches": [{"description": "nit", "patch_content": "diff", "files_affected": []}],
    "auditor_attempts": 1,
    "tokens_used": 300,
    "recommendation": "approve",
    "confidence": "high",
}
PHASE_STATUS_UPDATE = {"state": "COMPLETE", "builder_attempts": 1, "tokens_used": 1200}
REFUSED = {
    "builder_result": BUILDER_RESULT,
    "auditor_request": AUDITOR_REQUEST,
    "auditor_result": AUDITOR_RESULT,
    "update_status": PHASE_STATUS_UPDATE,
}


@pytest.fixture
def idle_sqlite_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """No worker: runs stay queued, for what needs no run to end."""
    yield from start_api(tmp_path, None, monkeypatch, run_worker=False)


def _git(api: Api, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=api.root, capture_output=True, text=True, check=True
    ).stdout.strip()


def _problem(response: httpx2.Response, status: int, words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert words in body["detail"], body["detail"]
    return body


def _start(client: httpx2.Client, body: dict[str, Any]) -> dict[str, Any]:
    started = client.post("/runs/start", json=body)
    assert started.status_code == 201, started.text
    assert started.headers["location"] == f"/runs/{started.json()['id']}"
    view: dict[str, Any] = started.json()
    return view


def test_a_run_started_in_upstreams_shape_ends_done_success_and_upstreams_views_report_it(
    sqlite_api: Api,
) -> None:
    with sqlite_api.client() as client:
        view = _start(client, upstream_start("upstream-demo"))
        run_id = view["id"]
        assert run_id.startswith("run-")
        assert view["requested_run_id"] == "upstream-demo"
        assert view["state"] == "RUN_CREATED"
        assert (view["safety_profile"], view["run_scope"]) == ("normal", "multi_tier")
        (tier,) = view["tiers"]
        assert (tier["tier_id"], tier["name"], tier["state"]) == ("1", "Operations", "PENDING")
        # phase_index orders the phases, and upstream's category name is read as ours.
        assert [(p["phase_id"], p["task_category"]) for p in tier["phases"]] == [
            ("1.1", "feature"),
            ("1.2", "security_auth_change"),
        ]
        assert tier["phases"][1]["builder_mode"] == "tweak_light"
        assert client.get(f"/runs/{run_id}").json()["run"]["plan_title"] == "upstream-demo"

        assert sqlite_api.wait_for_end(run_id)["state"] == "DONE_SUCCESS"

        integration = client.get(f"/runs/{run_id}/integration_status").json()
        assert integration["branch"] == f"autopack/{run_id}"
        assert integration["commits_ahead_of_main"] == 2
        assert integration["current_commit"] == _git(sqlite_api, "rev-parse", f"autopack/{run_id}")

        metrics = client.get("/metrics/runs").json()
        assert metrics["total_runs"] == 1
        (run,) = metrics["runs"]
        assert (run["run_id"], run["state"], run["phase_count"]) == (run_id, "DONE_SUCCESS", 2)
        assert run["token_cap"] == 5_000_000
        assert run["tokens_used"] > 0
        assert run["token_utilization"] == run["tokens_used"] / 5_000_000
        assert run["max_minor_issues_total"] == 6  # phases x 3, as upstream computed it
        assert client.get("/metrics/runs", params={"status": "GATE"}).json()["total_runs"] == 0
        _problem(client.get("/metrics/runs", params={"status": "done"}), 422, "status")

        tiers = client.get(f"/metrics/tiers/{run_id}").json()
        assert tiers["tier_count"] == 1
        assert tiers["tiers"][0]["phase_states"] == {"COMPLETE": 2}
        assert tiers["tiers"][0]["tokens_used"] == run["tokens_used"]

        summary = client.get(f"/reports/run_summary/{run_id}").json()
        assert summary["budgets"]["tokens_used"] == run["tokens_used"]
        assert summary["issues"] == {
            "minor_count": 0,
            "major_count": 0,
            "max_minor_total": 6,
            "distinct_issues": 0,
        }
        assert [
            (p["phase_id"], p["builder_attempts"], p["auditor_attempts"]) for p in summary["phases"]
        ] == [("1.1", 1, 0), ("1.2", 1, 1)]  # only the high-risk phase is audited
        assert sum(p["tokens_used"] for p in summary["phases"]) == run["tokens_used"]

        recorded = client.post(
            f"/runs/{run_id}/phases/1.1/record_issue",
            params=ISSUE
            | {
                "source": "cursor_self_doubt",
                "evidence_refs": ["calc/ops.py", "README.md"],
            },
        )
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["message"] == "Issue docs:missing-example recorded"
        (issue,) = recorded.json()["phase_file"]["issues"]
        assert (issue["source"], issue["evidence_refs"]) == (
            "builder",
            ["calc/ops.py", "README.md"],
        )
        assert issue["task_category"] == "feature"  # the phase's, as none was given
        again = client.post(
            f"/runs/{run_id}/phases/1.1/record_issue", params=ISSUE | {"source": "probe"}
        ).json()
        assert again["run_index_entry"]["occurrence_count"] == 2  # merged by issue_key
        assert client.get(f"/reports/run_summary/{run_id}").json()["issues"]["minor_count"] == 1
        assert client.get(f"/metrics/tiers/{run_id}").json()["tiers"][0]["minor_issues_count"] == 1

        backlog = client.get("/reports/issue_backlog_summary").json()
        assert backlog["project_id"] == "calc-demo"
        assert backlog["total_issues"] == 0
        budget = client.get("/reports/budget_analysis").json()
        assert (budget["total_budget_failures"], budget["failures"]) == (0, [])


def test_an_upstream_token_cap_is_the_runs_cap_and_budget_analysis_reports_the_run(
    sqlite_api: Api,
) -> None:
    with sqlite_api.client() as client:
        run_id = _start(client, upstream_start("tiny-budget", token_cap=1_000))["id"]
        run = sqlite_api.wait_for_end(run_id)
        assert run["state"] == "DONE_FAILED_BUDGET_EXHAUSTED", run
        budget = client.get("/reports/budget_analysis").json()
        assert budget["total_budget_failures"] == 1
        (failure,) = budget["failures"]
        assert (failure["run_id"], failure["token_cap"]) == (run_id, 1_000)
        assert budget["average_token_utilization"] == failure["token_utilization"]


def test_upstream_caps_may_tighten_the_projects_never_loosen_them(idle_sqlite_api: Api) -> None:
    with idle_sqlite_api.client() as client:
        tight = upstream_start(
            "tight",
            token_cap=40_000,
            max_duration_minutes=5,
            safety_profile="safety_critical",
            run_scope="single_tier",
        )
        view = _start(client, tight)
        assert (view["safety_profile"], view["run_scope"]) == ("safety_critical", "single_tier")
        limits = client.get(f"/runs/{view['id']}/strategy").json()["limits"]
        assert (limits["budget"]["tokens"], limits["max_duration_minutes"]) == (40_000, 5)

        loose = upstream_start("loose", token_cap=10**9, max_duration_minutes=10**5)
        loose["run"].update(token_cap=10**9, max_phases=None)
        limits = client.get(f"/runs/{_start(client, loose)['id']}/strategy").json()["limits"]
        assert (limits["budget"]["tokens"], limits["max_duration_minutes"]) == (5_000_000, 120)
        assert limits["max_phases"] == 25


def test_upstream_run_starts_the_plan_cannot_take_are_refused_by_name(
    idle_sqlite_api: Api,
) -> None:
    with idle_sqlite_api.client() as client:
        stray = upstream_start("stray")
        stray["phases"][0]["tier_id"] = "9"
        _problem(client.post("/runs/start", json=stray), 422, "phase 1.2 references unknown tier 9")
        _problem(
            client.post("/runs/start", json=upstream_start("few", max_phases=1)),
            422,
            "more than run.max_phases 1",
        )
        odd = upstream_start("odd")
        odd["phases"][0]["task_category"] = "astrology"
        _problem(client.post("/runs/start", json=odd), 422, "category")
        two_tiers = upstream_start("two", run_scope="single_tier")
        two_tiers["tiers"].append({"tier_id": "2", "tier_index": 1, "name": "More"})
        two_tiers["phases"].append(two_tiers["phases"].pop() | {"tier_id": "2"})
        _problem(client.post("/runs/start", json=two_tiers), 422, "single_tier needs one tier")
        unknown = upstream_start("unknown")
        unknown["run"]["priority"] = "high"
        _problem(client.post("/runs/start", json=unknown), 422, "run.priority")
        empty = {"run": {"run_id": "empty"}}
        _problem(client.post("/runs/start", json=empty), 422, "no tiers")
        idle = upstream_start("idle")
        idle["tiers"].append({"tier_id": "2", "tier_index": 1, "name": "Nothing"})
        _problem(client.post("/runs/start", json=idle), 422, "phases")
        split = upstream_start("two\nlines")
        _problem(client.post("/runs/start", json=split), 422, "run.run_id")
        bad_id = upstream_start("bad-id")
        bad_id["phases"][0]["phase_id"] = "1..2"
        _problem(client.post("/runs/start", json=bad_id), 422, "cannot name a git ref")
        # Nothing refused was kept: no run, no uploaded plan.
        assert client.get("/runs").json()["total"] == 0
        uploads = idle_sqlite_api.root / ".autonomous_runs" / "uploaded_plans"
        assert not list(uploads.glob("*.json"))


def test_upstream_endpoints_whose_meaning_moved_answer_410_naming_what_to_use(
    idle_sqlite_api: Api,
) -> None:
    with idle_sqlite_api.client() as client:
        run_id = _start(client, upstream_start("moved"))["id"]
        for endpoint, body in REFUSED.items():
            path = f"/runs/{run_id}/phases/1.1/{endpoint}"
            problem = _problem(client.post(path, json=body), 410, f"{endpoint}: ")
            assert problem["type"] == MOVED_TYPE
            assert problem["title"] == "Upstream moved"
            assert problem["use_instead"] == list(MOVED[endpoint].use_instead)
            assert all(way in problem["detail"] for way in problem["use_instead"])
        builder = client.post(f"/runs/{run_id}/phases/1.1/builder_result", json=BUILDER_RESULT)
        assert builder.json()["use_instead"] == list(REMOTE_BUILDER)
        assert "builder: remote" in builder.json()["detail"]
        update = client.post(f"/runs/{run_id}/phases/1.1/update_status", json=PHASE_STATUS_UPDATE)
        assert "POST /runs/{run_id}/cancel" in update.json()["use_instead"]
        # Nothing moved: the run is as it was started.
        phases = client.get(f"/runs/{run_id}").json()["tiers"][0]["phases"]
        assert {p["state"] for p in phases} == {"QUEUED"}
        assert client.get(f"/runs/{run_id}/issues").json()["entries"] == []


def test_upstream_record_issue_keeps_our_issue_rules(idle_sqlite_api: Api) -> None:
    with idle_sqlite_api.client() as client:
        run_id = _start(client, upstream_start("issues"))["id"]
        path = f"/runs/{run_id}/phases/1.2/record_issue"
        _problem(client.post(path, params=ISSUE | {"source": "oracle"}), 422, "source")
        _problem(
            client.post(path, params=ISSUE | {"source": "ci", "issue_key": "Docs Missing"}),
            422,
            "issue_key",
        )
        _problem(
            client.post(path, params=ISSUE | {"source": "ci", "task_category": "astrology"}),
            422,
            "task_category",
        )
        _problem(
            client.post(f"/runs/{run_id}/phases/9.9/record_issue", params=ISSUE | {"source": "ci"}),
            404,
            "Phase 9.9 not found",
        )
        recorded = client.post(
            path, params=ISSUE | {"source": "ci", "task_category": "schema_change"}
        ).json()
        (issue,) = recorded["phase_file"]["issues"]
        assert issue["task_category"] == "schema_contract_change"
        assert recorded["project_backlog_entry"] is None  # the backlog takes it at the run's end
        index = client.get(f"/runs/{run_id}/issues").json()
        assert [e["issue_key"] for e in index["entries"]] == ["docs:missing-example"]


def test_upstream_endpoints_want_our_tokens_and_keep_their_project_limits(
    idle_sqlite_api: Api,
) -> None:
    api = idle_sqlite_api
    with api.client() as client:
        run_id = _start(client, upstream_start("auth"))["id"]
    reads = [
        f"/runs/{run_id}/integration_status",
        "/metrics/runs",
        f"/metrics/tiers/{run_id}",
        "/reports/issue_backlog_summary",
        "/reports/budget_analysis",
        f"/reports/run_summary/{run_id}",
    ]
    writes: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("/runs/start", upstream_start("auth"), None),
        (f"/runs/{run_id}/phases/1.1/record_issue", None, ISSUE | {"source": "ci"}),
        *((f"/runs/{run_id}/phases/1.1/{name}", body, None) for name, body in REFUSED.items()),
    ]
    with api.client(None) as anonymous, api.client("read") as reader:
        for path in reads:
            _problem(anonymous.get(path), 401, "bearer token is required")
            assert reader.get(path).status_code in (200, 409), path  # 409: no branch yet
        for path, body, params in writes:
            _problem(anonymous.post(path, json=body, params=params), 401, "bearer token")
            _problem(reader.post(path, json=body, params=params), 403, "may only read")
    # A token limited to another project: this project's run is absent to it, starting is not its.
    other = api.root.parent / "two"
    create_project(other, extra_config=aliases_on(api.llm.openai_base_url))
    config = other / "autopack.toml"
    config.write_text(config.read_text().replace('id = "calc-demo"', 'id = "calc-two"'))
    with api.client() as client:
        assert client.post("/projects", json={"path": str(other)}).status_code == 201
    limited, _ = create_token(api.database, "two-only", TokenScope.WRITE, ["calc-two"])
    with api.client(limited) as client:
        assert client.get("/metrics/runs").json() == {"total_runs": 0, "runs": []}
        for path in reads[:1] + reads[2:3] + reads[5:]:
            _problem(client.get(path), 404, f"no run {run_id!r}")
        assert client.get("/reports/issue_backlog_summary").json()["project_id"] == "calc-two"
        _problem(client.get("/reports/budget_analysis?project=calc-demo"), 404, "no project")
        _problem(client.post("/runs/start", json=upstream_start("x")), 403, "limited to projects")
        _problem(client.post(writes[1][0], params=ISSUE | {"source": "ci"}), 404, "no run")


def _entry(key: str, severity: str, effective: str, runs: int, state: str = "open") -> BacklogEntry:
    return BacklogEntry(
        issue_key=key,
        severity=Severity(severity),
        effective_severity=Severity(effective),
        category="tests",
        source=IssueSource.CI,
        age_in_runs=runs,
        first_seen_run="run-a",
        last_seen_run="run-b",
        issue_state=IssueState(state),
    )


def test_upstreams_needs_cleanup_is_an_open_minor_aged_into_a_major() -> None:
    backlog = [
        _entry("aged", "minor", "major", runs=3),
        _entry("young", "minor", "minor", runs=1),
        _entry("born-major", "major", "major", runs=4),
        _entry("fixed", "minor", "major", runs=5, state="resolved"),
    ]
    summary = backlog_summary("calc-demo", backlog)
    assert (summary.total_issues, summary.open_count, summary.needs_cleanup_count) == (4, 2, 1)
    assert [item.issue_key for item in summary.needs_cleanup] == ["aged"]
    assert [key for key, _ in summary.top_aging_issues] == ["fixed", "born-major", "aged", "young"]
    assert summary.top_aging_issues[0][1].status == "resolved"
