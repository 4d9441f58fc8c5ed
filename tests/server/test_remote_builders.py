"""Remote Builders over HTTP: a separate process claims each attempt, builds in its own clone and
submits; the run governs what lands exactly as it does for its own Builder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autopack.domain.vocabulary import TokenScope
from autopack.store.ledger import ledger_for_run
from autopack.store.remote_offers import offer_attempt
from autopack.store.runs import create_run
from autopack.store.tokens import create_token
from autopack.testing.api_server import Api, start_api
from autopack.testing.kills import (
    KILLED,
    committed_phases,
    only_run,
    outcome,
    resume_run,
    start_run,
)
from autopack.testing.runs import blueprint

AGENT = Path(__file__).with_name("remote_agent.py")
HOSTILE = "--- a/autopack.toml\n+++ b/autopack.toml\n@@ -1 +1 @@\n-[project]\n+[nope]\n"

PHASE = """### Phase {id}: {title}
category: feature
complexity: low
builder: remote
scope: {scope}
acceptance: the unit tests pass

{title}.
"""
PLAN = "# Remote\n\nBuilt by an agent elsewhere.\n\n## Tier 1: Operations\n\n" + "\n".join(
    PHASE.format(id=phase_id, title=title, scope=scope)
    for phase_id, title, scope in [
        ("1.1", "Add subtraction to calc/ops.py", "calc/ops.py"),
        ("1.2", "Add multiplication to calc/ops.py", "calc/ops.py"),
        ("1.3", "List the operations in README.md", "README.md"),
    ]
)


@pytest.fixture
def remote_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("AUTOPACK_REMOTE_LEASE_SECONDS", "2")
    monkeypatch.setenv("AUTOPACK_REMOTE_CLAIM_WAIT_SECONDS", "120")
    yield from start_api(tmp_path, None, monkeypatch)


def _start(api: Api, plan: str) -> str:
    with api.client() as client:
        answer = client.post("/runs", json={"plan_text": plan})
        assert answer.status_code in (201, 202), answer.text
        return str(answer.json()["run_id"])


def _agent(api: Api, tmp_path: Path, phases: int, *mode: str) -> list[dict[str, Any]]:
    results = tmp_path / "agent.json"
    workdir = tmp_path / "agent"
    workdir.mkdir()
    subprocess.run(
        [
            sys.executable,
            str(AGENT),
            api.base_url,
            api.write_token,
            str(workdir),
            str(results),
            str(phases),
            *mode,
        ],
        check=True,
        timeout=300,
    )
    return list(json.loads(results.read_text()))


def _answers(results: list[dict[str, Any]], step: str, phase: str) -> list[dict[str, Any]]:
    return [r for r in results if r["step"] == step and r["phase"] == phase]


def _commits(api: Api, run_id: str) -> list[str]:
    log = subprocess.run(
        ["git", "log", "--format=%s", f"main..autopack/{run_id}"],
        cwd=api.root,
        check=True,
        capture_output=True,
        text=True,
    )
    return log.stdout.splitlines()


def test_a_remote_builder_over_http_builds_every_phase_of_a_run(
    remote_api: Api, tmp_path: Path
) -> None:
    api = remote_api
    run_id = _start(api, PLAN)
    results = _agent(api, tmp_path, 3)
    run = api.wait_for_end(run_id)
    assert run["state"] == "DONE_SUCCESS", run
    commits = _commits(api, run_id)
    assert len(commits) == 3, commits
    ops = subprocess.run(
        ["git", "show", f"autopack/{run_id}:calc/ops.py"],
        cwd=api.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "def subtract" in ops
    assert "def multiply" in ops

    # The task carried what a Builder needs, capped by what the phase may spend.
    claim = _answers(results, "claim", "1.1")[0]["body"]
    task = claim["task"]
    assert task["base_commit"]
    assert task["repository"] == str(api.root)
    assert "subtract" in task["prompt"]
    assert task["repo_map"]
    assert Decimal(task["allowance"]["usd"]) > 0
    assert "autopack.toml" in task["protected_paths"]

    # A hostile patch is refused by rule at once; the lease stays for a corrected one.
    hostile = _answers(results, "hostile", "1.1")[0]
    assert hostile["status"] == 422
    assert hostile["body"]["rule"] == "path.protected"
    assert _answers(results, "submit", "1.1")[0]["status"] == 202

    # An expired lease: refused, offered again, the old holder refused after the new claim.
    assert _answers(results, "late", "1.2")[0]["body"]["rule"] == "lease.expired"
    assert _answers(results, "reclaim", "1.2")[0]["body"]["offer"]["claims"] == 2
    late = _answers(results, "late-after-reclaim", "1.2")[0]
    assert late["status"] == 409
    assert late["body"]["rule"] == "lease.unknown"
    # One submission per attempt.
    for phase in ("1.1", "1.2", "1.3"):
        again = _answers(results, "resubmit", phase)[0]
        assert again["status"] == 409
        assert again["body"]["rule"] == "offer.submitted"

    # What the agent reported is in the ledger, one row per phase, as reported.
    remote = [c for c in ledger_for_run(api.database, run_id) if c.provider == "remote"]
    assert sorted(c.phase_id or "" for c in remote) == ["1.1", "1.2", "1.3"]
    assert {c.usd for c in remote} == {Decimal("0.05")}
    assert {c.model for c in remote} == {"test-agent"}
    assert all(c.input_tokens == 1200 and c.output_tokens == 300 for c in remote)


def test_a_remote_builder_reporting_more_than_its_allowance_lands_nothing(
    remote_api: Api, tmp_path: Path
) -> None:
    api = remote_api
    plan = PLAN.split("### Phase 1.1")[0] + "### Phase 1.3" + PLAN.split("### Phase 1.3")[1]
    run_id = _start(api, plan)
    results = _agent(api, tmp_path, 1, "overspend")
    run = api.wait_for_end(run_id)
    assert run["state"] == "DONE_FAILED_BUDGET_EXHAUSTED", run
    assert _commits(api, run_id) == []
    allowance = Decimal(_answers(results, "claim", "1.3")[0]["body"]["task"]["allowance"]["usd"])
    assert allowance < Decimal(1000)
    remote = [c for c in ledger_for_run(api.database, run_id) if c.provider == "remote"]
    # Counted as reported, every paid token: the patch is what the allowance refuses.
    assert [c.usd for c in remote] == [Decimal(1000)]


@pytest.fixture
def idle_remote_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("AUTOPACK_REMOTE_CLAIM_WAIT_SECONDS", "120")
    yield from start_api(tmp_path, None, monkeypatch, run_worker=False)


def test_a_run_killed_after_billing_a_submission_resumes_without_billing_it_again(
    idle_remote_api: Api, tmp_path: Path
) -> None:
    api = idle_remote_api
    plan = tmp_path / "plan.md"
    plan.write_text(PLAN.split("### Phase 1.2")[0], encoding="utf-8")
    results, workdir = tmp_path / "agent.json", tmp_path / "agent"
    workdir.mkdir()
    agent = subprocess.Popen(
        [
            sys.executable,
            str(AGENT),
            api.base_url,
            api.write_token,
            str(workdir),
            str(results),
            "1",
        ]
    )
    env = {"OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}
    # The first ledger row is the agent's report: the run dies the instant it is stored.
    assert start_run(api.root, plan, env, kill_at="ledger:row#1") == KILLED
    assert agent.wait(timeout=60) == 0
    run_id = only_run(api.root)
    assert resume_run(api.root, run_id, env) == 0
    assert outcome(api.root, run_id).state == "DONE_SUCCESS"
    assert committed_phases(api.root, run_id) == ["1.1"]
    remote = [c for c in ledger_for_run(api.database, run_id) if c.provider == "remote"]
    assert [c.usd for c in remote] == [Decimal("0.05")]


def test_only_a_write_token_of_the_runs_project_sees_and_claims_its_offers(
    idle_remote_api: Api,
) -> None:
    api = idle_remote_api
    create_run(api.database, blueprint("run-1"))  # project "demo"
    offer = offer_attempt(
        api.database,
        project_id="demo",
        run_id="run-1",
        phase_id="a",
        attempt=1,
        base_commit="0" * 40,
        task={"title": "Phase a"},
        policy={},
        allowance_tokens=1_000,
        allowance_usd=Decimal("0.5"),
        lease_seconds=60,
    )
    other, _ = create_token(api.database, "other-project", TokenScope.WRITE, ["calc-demo"])
    claim = {"builder": "agent"}
    with api.client(None) as anonymous:
        assert anonymous.get("/builders/offers").status_code == 401
    with api.client("read") as reader:
        assert [o["offer_id"] for o in reader.get("/builders/offers").json()] == [offer.offer_id]
        refused = reader.post(f"/builders/offers/{offer.offer_id}/claim", json=claim)
        assert refused.status_code == 403
        assert reader.post("/builders/claims", json=claim).status_code == 403
    with api.client(other) as limited:
        assert limited.get("/builders/offers").json() == []
        assert limited.post("/builders/claims", json=claim).status_code == 204
        hidden = limited.post(f"/builders/offers/{offer.offer_id}/claim", json=claim)
        assert hidden.status_code == 404
    with api.client() as writer:
        claimed = writer.post("/builders/claims", json=claim)
        assert claimed.status_code == 200
        assert claimed.json()["offer"]["offer_id"] == offer.offer_id
        # Not a patch at all: refused by rule, the lease kept.
        lease = claimed.json()["lease_token"]
        junk = {"lease_token": lease, "patch": "just words"}
        answer = writer.post(f"/builders/offers/{offer.offer_id}/submission", json=junk)
        assert answer.status_code == 422
        assert answer.json()["rule"] == "patch.format"
        beat = writer.post(
            f"/builders/offers/{offer.offer_id}/heartbeat", json={"lease_token": lease}
        )
        assert beat.status_code == 200


def test_upstreams_builder_result_builds_a_remote_phase(remote_api: Api, tmp_path: Path) -> None:
    api = remote_api
    run_id = _start(api, PLAN.split("### Phase 1.2")[0])
    with api.client() as client:
        deadline = time.monotonic() + 60
        while not client.get("/builders/offers", params={"run_id": run_id}).json():
            assert time.monotonic() < deadline, "nothing was offered"
            time.sleep(0.2)
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(api.root), str(clone)], check=True)
        with (clone / "calc" / "ops.py").open("a", encoding="utf-8") as ops:
            ops.write("\n\ndef subtract(a: float, b: float) -> float:\n    return a - b\n")
        patch = subprocess.run(
            ["git", "diff"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout
        # Upstream's BuilderResult (builder_schemas.py at c72e515).
        result = {
            "phase_id": "1.1",
            "run_id": run_id,
            "patch_content": HOSTILE,
            "files_changed": ["calc/ops.py"],
            "tokens_used": 1500,
            "status": "success",
            "notes": "subtract added",
        }
        path = f"/runs/{run_id}/phases/1.1/builder_result"
        refused = client.post(path, json=result)
        assert refused.status_code == 422
        assert refused.json()["rule"] == "path.protected"
        taken = client.post(path, json=result | {"patch_content": patch})
        assert taken.status_code == 200, taken.text
        assert taken.json()["commit_sha"] is None
        # The attempt is no longer on offer: a second result is refused as moved.
        assert client.post(path, json=result | {"patch_content": patch}).status_code == 410
    run = api.wait_for_end(run_id)
    assert run["state"] == "DONE_SUCCESS", run
    assert len(_commits(api, run_id)) == 1
    remote = [c for c in ledger_for_run(api.database, run_id) if c.provider == "remote"]
    assert [(c.model, c.input_tokens) for c in remote] == [("upstream builder_result", 1500)]
