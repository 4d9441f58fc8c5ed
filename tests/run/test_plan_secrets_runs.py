"""Keys pasted into a plan reach nothing a run stores or shows: proven on what real runs leave.

A plan uploaded over the real API (uvicorn, SQLite) is run by its in-process worker: the real
OpenAI SDK against the fake server, scripted as the demo developer, real git, the real sandbox.
Then every byte the run left is searched for the keys: the database file, every file of the
project (run directory, uploaded plan, worktrees, git's refs and reflogs), the git history of every
ref, every API view, the event stream, the dashboard and every request the models were sent.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx2
import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import PLAN as DEMO_PLAN
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.run.execute import create_run
from autopack.run.phase0 import NORMALISED_PLAN_FILE
from autopack.run.services import RunOptions
from autopack.testing.api_server import Api, start_api
from autopack.testing.fake_llm import Reply, fake_llm_server
from autopack.verify.bubblewrap import BubblewrapSandbox

# Built from parts so no scanner mistakes the test for a leak; each has its kind's real shape.
OPENAI = "sk-" + "proj-" + "FAKEtestKEY0123456789abcdefXYZ"
ANTHROPIC = "sk-" + "ant-api03-" + "FAKEtestKEY0123456789abcdef"
GITHUB = "ghp_" + "FAKE0123456789abcdefghijklmnopqrstuv"
AWS = "AKIA" + "FAKE0123456789AB"
# A provider key of no known shape, set in the environment the server and its worker run in.
ENV_KEY = "plain-env-value-7f3a9c"
SECRETS = (OPENAI, ANTHROPIC, GITHUB, AWS, ENV_KEY)

PLAN = f"""# Calculator, deployed with {OPENAI}

## Tier 1: Operations signed by {GITHUB}

### Phase 1.1: Add subtraction using {OPENAI}
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py
acceptance: tests/test_subtract.py

Add `subtract(a, b)` to calc/ops.py with a unit test. Deploy it with AWS key {AWS}, ask
Claude with {ANTHROPIC}, and the provider key is {ENV_KEY}.
"""


def _leaks(where: str, data: bytes | str) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return [f"{where}: {secret[:12]}..." for secret in SECRETS if secret.encode() in raw]


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout


@pytest.fixture
def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: BubblewrapSandbox
) -> Iterator[tuple[Api, list[dict[str, Any]]]]:
    """The API on SQLite; requesting `sandbox` skips (or fails, in CI) without bubblewrap."""
    requests: list[dict[str, Any]] = []

    def developer(api_name: str, request: dict[str, Any]) -> Reply:
        requests.append(request)
        return demo_reply(api_name, request)

    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    for served in start_api(tmp_path, None, monkeypatch, script=developer):
        yield served, requests


def test_keys_in_an_uploaded_plan_reach_no_database_file_artefact_commit_view_event_or_prompt(
    api: tuple[Api, list[dict[str, Any]]],
) -> None:
    served, requests = api
    leaks: list[str] = []
    with served.client() as client:
        started = client.post("/runs", json={"plan_text": PLAN})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        run = served.wait_for_end(run_id)
        assert run["state"] == "DONE_SUCCESS", run

        views = [
            f"/runs/{run_id}",
            "/runs",
            f"/runs/{run_id}/strategy",
            f"/runs/{run_id}/phases/1.1",
            f"/runs/{run_id}/summary",
            f"/runs/{run_id}/integration",
            f"/runs/{run_id}/issues",
            f"/runs/{run_id}/ledger",
            f"/runs/{run_id}/metrics",
            f"/runs/{run_id}/tiers/1/metrics",
        ]
        for view in views:
            response = client.get(view)
            assert response.status_code == 200, (view, response.text)
            leaks += _leaks(f"GET {view}", response.content)
        strategy = client.get(f"/runs/{run_id}/strategy").json()
        # Masked, not dropped: the plan still reads, and says what was there.
        assert strategy["tiers"][0]["phases"][0]["title"] == (
            "Add subtraction using [secret masked: openai key]"
        )
        with client.stream("GET", f"/runs/{run_id}/events") as stream:
            events = "\n".join(stream.iter_lines())
        assert "run_finished" in events
        leaks += _leaks("event stream", events)

    with closing(httpx2.Client(base_url=served.base_url, timeout=60)) as browser:
        assert browser.post("/ui/login", data={"token": served.read_token}).status_code == 303
        for page in ("/ui/", f"/ui/runs/{run_id}", f"/ui/fragments/runs/{run_id}/commits"):
            response = browser.get(page)
            assert response.status_code == 200, (page, response.text)
            leaks += _leaks(f"dashboard {page}", response.content)

    root = served.root
    commits = _git(root, "log", "--all", "--format=%H%n%B%n%N", "-p")
    assert b"Add subtraction using [secret masked: openai key]" in commits
    leaks += _leaks("git log --all (subjects, bodies, notes, diffs)", commits)
    leaks += _leaks("tags", _git(root, "for-each-ref", "--format=%(refname) %(contents)"))
    # Git's objects are compressed (read through git above); everything else is read as stored:
    # the SQLite database and its journal, the run's directory, the uploaded plan, reflogs.
    files = [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.relative_to(root).as_posix().startswith(".git/objects/")
    ]
    assert (root / ".autopack" / "autopack.db") in files
    assert any("uploaded_plans" in path.parts for path in files)
    assert any(run_id in path.parts for path in files)
    for path in files:
        leaks += _leaks(str(path.relative_to(root)), path.read_bytes())
    assert requests
    leaks += _leaks("model requests", json.dumps(requests))
    assert leaks == []


def test_the_planner_is_never_sent_a_key_from_a_free_form_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Phase 0 through create_run: the free-form plan goes to the planner (fake server)."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    asked: list[dict[str, Any]] = []

    def planner(api_name: str, request: dict[str, Any]) -> Reply:
        """Repeats the user's words into the phase, as a planner keeps every requirement."""
        asked.append(request)
        wish = str(request["messages"][-1]["content"]).split("\n\n", 1)[1]
        return Reply(text=DEMO_PLAN.replace("Add `subtract(a, b)` to calc/ops.py", wish))

    wish = (
        f"Give the calculator subtraction. Our OpenAI key is {OPENAI}, GitHub {GITHUB}, "
        f"AWS {AWS}, Anthropic {ANTHROPIC}, and the other one {ENV_KEY}.\n"
    )
    with fake_llm_server(planner) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        plan = tmp_path / "wish.txt"
        plan.write_text(wish)
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions(no_sandbox=True))
    assert len(asked) == 1
    prompt = json.dumps(asked)
    assert "Give the calculator subtraction" in prompt
    assert "[secret masked: value of ANTHROPIC_API_KEY]" in prompt
    leaks = _leaks("planner prompt", prompt)
    normalised = settings.runs_dir / run_id / NORMALISED_PLAN_FILE
    assert "[secret masked: github token]" in normalised.read_text()
    leaks += _leaks("normalised plan", normalised.read_bytes())
    for path in (root / ".autopack").rglob("*"):
        if path.is_file():
            leaks += _leaks(str(path), path.read_bytes())
    for path in settings.runs_dir.rglob("*"):
        if path.is_file():
            leaks += _leaks(str(path), path.read_bytes())
    assert leaks == []
