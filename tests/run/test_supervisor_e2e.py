"""Whole runs through the real pipeline, with the real OpenAI SDK talking to the fake server."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.demo.run_demo import run_demo
from autopack.domain.issues import BacklogEntry
from autopack.domain.states import RunState
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.run.execute import RunEnd, create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import database_url_for, open_database
from autopack.store.issue_records import load_backlog, save_backlog
from autopack.store.ledger import ledger_for_run
from autopack.store.runs import get_run
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, fake_llm_server

Script = Callable[[str, dict[str, Any]], Reply]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def _phase_commits(root: Path, run_id: str) -> list[str]:
    log = _git(
        root, "log", "--format=%(trailers:key=Autopack-Phase,valueonly)", f"main..autopack/{run_id}"
    )
    return [line for line in log.splitlines() if line.strip()]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Script], FakeLLMServer]]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    servers: list[Any] = []

    def start(script: Script) -> FakeLLMServer:
        context = fake_llm_server(script)
        servers.append(context)
        return context.__enter__()

    yield start
    for context in servers:
        context.__exit__(None, None, None)


def _run(root: Path, server: FakeLLMServer, extra: str = "") -> tuple[RunEnd, Path]:
    plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + extra)
    settings = load_settings(root)
    run_id = create_run(settings, plan, RunOptions())
    return execute_run(settings, run_id, RunOptions()), settings.runs_dir / run_id


def test_the_demo_replays_its_cassette_to_success_with_a_commit_per_phase(tmp_path: Path) -> None:
    root, end = run_demo(tmp_path / "calc")
    assert end.state is RunState.DONE_SUCCESS, end.message
    main_before = _git(root, "rev-parse", "main")
    assert sorted(_phase_commits(root, end.run_id)) == ["1.1", "1.2", "2.1", "2.2"]
    assert _git(root, "rev-parse", "main") == main_before
    assert _git(root, "log", "--format=%s", "main") == "A calculator that can only add"
    run_dir = root / ".autonomous_runs" / end.run_id
    summary = (run_dir / "RUN_SUMMARY.md").read_text()
    assert "DONE_SUCCESS" in summary
    assert "Promotion: eligible" in summary
    assert "Stack profile: unknown (none of " in summary
    assert (run_dir / "tier_01_1_summary.md").exists()
    assert (run_dir / "run_issue_index.json").exists()
    database = open_database(database_url_for(root, {}))
    calls = ledger_for_run(database, end.run_id)
    database.close()
    # Four phases of two Builder calls each, and one Auditor call for the high-risk phase.
    assert len(calls) == 9
    assert all(call.usd > 0 for call in calls)
    # The divide phase's code is really there and really tested.
    ops = _git(root, "show", f"autopack/{end.run_id}:calc/ops.py")
    assert "cannot divide by zero" in ops
    # Every phase commit says where it came from, is tagged, and `autopack status` reads it back.
    by_phase = {call.phase_id: call for call in calls}
    for phase in ("1.1", "1.2", "2.1", "2.2"):
        tag = f"autopack/{end.run_id}/{phase}"
        trailers = _git(root, "log", "-1", "--format=%(trailers:only,unfold)", tag)
        fields = dict(line.split(": ", 1) for line in trailers.splitlines() if ": " in line)
        assert fields["Autopack-Phase"] == phase
        assert fields["Autopack-Run"] == end.run_id
        assert fields["Autopack-Model"] == f"{by_phase[phase].provider}:{by_phase[phase].model}"
        phase_usd = sum(call.usd for call in calls if call.phase_id == phase)
        assert Decimal(fields["Autopack-Cost-USD"]) == phase_usd.quantize(Decimal("0.000001"))
        assert fields["Autopack-Auditor"] == ("clean" if phase == "2.1" else "not run")
    status = CliRunner().invoke(app, ["status", end.run_id, "--repo", str(root), "--json"])
    assert status.exit_code == 0, status.output
    commits = json.loads(status.stdout)["commits"]
    assert sorted(commits) == ["1.1", "1.2", "2.1", "2.2"]
    assert commits["2.1"]["trailers"]["Autopack-Auditor"] == "clean"
    shown = CliRunner().invoke(app, ["status", end.run_id, "--repo", str(root)])
    assert f"commit {commits['2.1']['sha'][:12]} by {by_phase['2.1'].provider}:" in shown.output
    assert "auditor: clean" in shown.output


def test_a_failing_check_goes_back_to_the_builder_and_the_next_attempt_lands(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    feedback_seen: list[str] = []

    def script(api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "# Phase 1.1:" in task and "report" not in json.dumps(request.get("tools", [])):
            if "This is attempt 2" in task:
                feedback_seen.append(task)
            elif not any(m["role"] == "tool" for m in request["messages"]):
                wrong = {
                    "op": "insert",
                    "path": "calc/ops.py",
                    "line": 5,
                    "text": "\n\ndef subtract(a: float, b: float) -> float:\n    return a + b\n",
                }
                test = demo_reply(api, request).tool_calls[0].arguments["edits"][1]
                return Reply(
                    tool_calls=(ToolCall(name="edit", arguments={"edits": [wrong, test]}),)
                )
        return demo_reply(api, request)

    server = served(script)
    end, _run_dir = _run(tmp_path / "calc", server)
    assert end.state is RunState.DONE_SUCCESS, end.message
    assert feedback_seen, "the second attempt was never asked"
    assert "checks failed" in feedback_seen[0]
    assert "test_subtract" in feedback_seen[0]
    database = open_database(database_url_for(tmp_path / "calc", {}))
    phase = get_run(database, end.run_id).tiers[0].phases[0]
    database.close()
    assert phase.attempts_used == 2
    assert "return a - b" in _git(tmp_path / "calc", "show", f"autopack/{end.run_id}:calc/ops.py")


def test_a_budget_too_small_for_one_call_ends_the_run_budget_exhausted_with_an_incident(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    server = served(demo_reply)
    tight = "\n[ruleset.complexity.low]\ntoken_cap = 3000\nusd_cap = 2\n"
    end, run_dir = _run(tmp_path / "calc", server, tight)
    assert end.state is RunState.DONE_FAILED_BUDGET_EXHAUSTED
    assert "cannot cover the next call" in (end.message or "")
    assert sum(server.calls_per_model.values()) == 0  # refused before sending, never paid
    incident = run_dir / "incidents" / "1.1-a1"
    assert {p.name for p in incident.iterdir()} >= {
        "diff.patch",
        "test_output.txt",
        "trajectory_excerpt.json",
        "ledger.json",
        "findings.json",
        "versions.json",
        "REPLAY.md",
    }
    assert "autopack run" in (incident / "REPLAY.md").read_text()
    assert "DONE_FAILED_BUDGET_EXHAUSTED" in (run_dir / "RUN_SUMMARY.md").read_text()


def test_a_patch_writing_a_protected_path_ends_the_run_with_nothing_written(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    def hostile(api: str, request: dict[str, Any]) -> Reply:
        if not any(m["role"] == "tool" for m in request["messages"]):
            return Reply(
                tool_calls=(
                    ToolCall(
                        name="run_command",
                        arguments={
                            "command": "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/evil.yml"
                        },
                    ),
                )
            )
        return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))

    server = served(hostile)
    end, run_dir = _run(tmp_path / "calc", server)
    assert end.state is RunState.DONE_FAILED_POLICY_VIOLATION
    assert ".github/workflows/evil.yml" in (end.message or "")
    root = tmp_path / "calc"
    assert _git(root, "rev-parse", f"autopack/{end.run_id}") == _git(root, "rev-parse", "main")
    assert not (root / ".github").exists()
    assert (run_dir / "incidents" / "1.1-a1" / "diff.patch").read_text().count("evil.yml") >= 1


def test_a_provider_that_refuses_every_call_ends_the_run_in_environment_failure(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    server = served(lambda api, request: Reply(fault="invalid_key"))
    end, _ = _run(tmp_path / "calc", server)
    assert end.state is RunState.DONE_FAILED_ENVIRONMENT
    assert "no model could answer" in (end.message or "")


def test_a_run_that_needs_a_sandbox_it_lacks_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = create_project(tmp_path / "calc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(Exception, match="--no-sandbox"):
        create_run(load_settings(tmp_path / "calc"), plan, RunOptions())


def test_an_aged_backlog_issue_becomes_a_debt_cleanup_phase_that_pays_it_off(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    asked: list[str] = []

    def developer(api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "# Phase debt-cleanup:" in task and "report" not in json.dumps(request.get("tools", [])):
            if any(m["role"] == "tool" for m in request["messages"]):
                return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "typed"}),))
            asked.append(task)
            edit = {
                "op": "str_replace",
                "path": "calc/ops.py",
                "old": '"""Arithmetic operations."""',
                "new": '"""Arithmetic operations, typed."""',
            }
            return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": [edit]}),))
        return demo_reply(api, request)

    server = served(developer)
    root = tmp_path / "calc"
    plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
    settings = load_settings(root)
    aged = BacklogEntry(
        issue_key="lint:untyped-def",
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=3,
        first_seen_run="run-old-1",
        last_seen_run="run-old-3",
        paths=("calc/ops.py",),
        summary="add() has no docstring",
    )
    database = open_database(database_url_for(root, {}))
    save_backlog(database, settings.project.id, [aged])
    database.close()

    run_id = create_run(settings, plan, RunOptions())
    end = execute_run(settings, run_id, RunOptions())

    assert end.state is RunState.DONE_SUCCESS, end.message
    strategy = json.loads((settings.runs_dir / run_id / "strategy.json").read_text())
    first = strategy["tiers"][0]["phases"][0]
    assert first["phase_id"] == "debt-cleanup"
    assert first["resolves"] == ["lint:untyped-def"]
    assert "lint:untyped-def: add() has no docstring" in asked[0]
    assert _phase_commits(root, run_id)[-1] == "debt-cleanup"  # log is newest first
    assert "Arithmetic operations, typed." in _git(root, "show", f"autopack/{run_id}:calc/ops.py")
    database = open_database(database_url_for(root, {}))
    [entry] = load_backlog(database, settings.project.id)
    database.close()
    assert entry.issue_state is IssueState.RESOLVED
    assert entry.last_seen_run == run_id


@pytest.mark.parametrize(
    ("low_usd_cap", "escalated"),
    [
        ("20", True),
        # The top model's worst case (128k output tokens at $50/M, $6.40) does not fit $2 left.
        ("2", False),
    ],
)
def test_an_attempt_after_one_without_progress_gets_the_next_stronger_model_if_affordable(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], low_usd_cap: str, escalated: bool
) -> None:
    models_for_phase: list[str] = []

    def lazy_first(api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "# Phase 1.1:" in task and "report" not in json.dumps(request.get("tools", [])):
            if not any(m["role"] == "tool" for m in request["messages"]):
                models_for_phase.append(request["model"])
            if "This is attempt" not in task:
                return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "nah"}),))
        return demo_reply(api, request)

    server = served(lazy_first)
    root = tmp_path / "calc"
    plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
    config = (
        (root / "autopack.toml")
        .read_text()
        .replace('top = "openai-standard"', 'top = "openai-top"')
    )
    config += f'\n[models.aliases.openai-top]\nbase_url = "{server.openai_base_url}"\n'
    config += f"\n[ruleset.complexity.low]\ntoken_cap = 200000\nusd_cap = {low_usd_cap}\n"
    (root / "autopack.toml").write_text(config)
    settings = load_settings(root)
    run_id = create_run(settings, plan, RunOptions())
    end = execute_run(settings, run_id, RunOptions())
    assert end.state is RunState.DONE_SUCCESS, end.message
    standard, top = settings.aliases["openai-standard"].model, settings.aliases["openai-top"].model
    assert models_for_phase == [standard, top if escalated else standard]


def test_with_policy_violation_ends_run_false_a_refused_patch_is_fed_back(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    retried: list[str] = []

    def hostile_once(api: str, request: dict[str, Any]) -> Reply:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "# Phase 1.1:" in task and "This is attempt 2" in task:
            retried.append(task)
        elif "# Phase 1.1:" in task and "report" not in json.dumps(request.get("tools", [])):
            if not any(m["role"] == "tool" for m in request["messages"]):
                command = "mkdir -p .github/workflows && echo x > .github/workflows/evil.yml"
                return Reply(
                    tool_calls=(ToolCall(name="run_command", arguments={"command": command}),)
                )
            return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))
        return demo_reply(api, request)

    server = served(hostile_once)
    end, _ = _run(tmp_path / "calc", server, "\n[ruleset]\npolicy_violation_ends_run = false\n")
    assert end.state is RunState.DONE_SUCCESS, end.message
    assert retried
    assert "[policy]" in retried[0]
    assert ".github/workflows/evil.yml" in retried[0]
    root = tmp_path / "calc"
    assert "evil.yml" not in _git(root, "ls-tree", "-r", "--name-only", f"autopack/{end.run_id}")
    # The refusal is a major policy issue of the phase, resolved when a clean attempt landed.
    index = json.loads(
        (root / ".autonomous_runs" / end.run_id / "run_issue_index.json").read_text()
    )
    [policy] = [e for e in index["entries"] if e["issue_key"].startswith("policy:")]
    assert policy["issue_key"] == "policy:path.protected:.github/workflows/evil.yml"
    assert (policy["severity"], policy["phases"]) == ("major", ["1.1"])
    assert policy["issue_state"] == "resolved"


FAKE_AIDER = """#!/usr/bin/env python3
import pathlib
ops = pathlib.Path("calc/ops.py")
ops.write_text(ops.read_text() + "\\n\\ndef subtract(a: float, b: float) -> float:\\n    return a - b\\n")
pathlib.Path("tests/test_subtract.py").write_text(
    "import unittest\\n\\nfrom calc.ops import subtract\\n\\n\\n"
    "class SubtractTest(unittest.TestCase):\\n"
    "    def test_subtract(self) -> None:\\n        self.assertEqual(subtract(5, 3), 2)\\n"
)
print("Tokens: 2.3k sent, 150 received. Cost: $0.01 message, $0.01 session.")
print("Tokens: 3k sent, 1.2k received. Cost: $0.02 message, $0.03 session.")
"""


def test_a_phase_can_name_an_external_cli_as_its_builder(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aider").write_text(FAKE_AIDER)
    (bin_dir / "aider").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    server = served(demo_reply)
    root = tmp_path / "calc"
    plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
    plan.write_text(
        plan.read_text().replace(
            "### Phase 1.1: Add subtraction\n", "### Phase 1.1: Add subtraction\nbuilder: aider\n"
        )
    )
    settings = load_settings(root)
    run_id = create_run(settings, plan, RunOptions())
    end = execute_run(settings, run_id, RunOptions())
    assert end.state is RunState.DONE_SUCCESS, end.message
    assert "return a - b" in _git(root, "show", f"autopack/{run_id}:calc/ops.py")
    database = open_database(database_url_for(root, {}))
    calls = ledger_for_run(database, run_id)
    database.close()
    aider_calls = [c for c in calls if c.phase_id == "1.1"]
    assert len(aider_calls) == 1
    assert aider_calls[0].usd == Decimal("0.03")
    assert aider_calls[0].input_tokens == 5300
    # The other three phases were built by Autopack's agent through the fake server.
    assert len(calls) == 1 + 7


def test_a_test_failing_at_the_base_commit_is_pre_existing_not_blamed_on_phases(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    server = served(demo_reply)
    root = tmp_path / "calc"
    plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
    config = (root / "autopack.toml").read_text()
    (root / "autopack.toml").write_text(
        config.replace(
            "-m unittest discover -s tests -t .", "-m pytest -q -p no:cacheprovider tests"
        )
    )
    (root / "tests" / "test_legacy.py").write_text(
        "def test_legacy_rounding() -> None:\n    assert round(2.5) == 3\n"
    )
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "legacy",
        ],
        check=True,
    )
    settings = load_settings(root)
    run_id = create_run(settings, plan, RunOptions())
    end = execute_run(settings, run_id, RunOptions())
    assert end.state is RunState.DONE_SUCCESS, end.message
    baseline = json.loads((settings.runs_dir / run_id / "baseline.json").read_text())
    assert baseline == {
        "normal": ["test:tests.test_legacy::test_legacy_rounding"],
        "strict": ["test:tests.test_legacy::test_legacy_rounding"],
    }
    summary = (settings.runs_dir / run_id / "RUN_SUMMARY.md").read_text()
    assert "not blamed on phases): `test:tests.test_legacy::test_legacy_rounding`" in summary


def test_a_major_audit_finding_on_the_last_attempt_never_commits(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    finding = {
        "issue_key": "security:zero-division:calc/ops.py",
        "severity": "major",
        "category": "security",
        "confidence": 95,
        "file": "calc/ops.py",
        "evidence": "return a / b",
        "failure_scenario": "divide(1, 0) crashes the service",
        "suggested_fix": "check b first",
    }

    def script(api: str, request: dict[str, Any]) -> Reply:
        if "report" in json.dumps(request.get("tools", [])):
            return Reply(
                tool_calls=(
                    ToolCall(name="report", arguments={"summary": "unsafe", "findings": [finding]}),
                )
            )
        return demo_reply(api, request)

    server = served(script)
    end, run_dir = _run(tmp_path / "calc", server)
    root = tmp_path / "calc"
    assert end.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW, end.message
    assert "2.1" not in _phase_commits(root, end.run_id)
    assert sorted(_phase_commits(root, end.run_id)) == ["1.1", "1.2"]
    summary = (run_dir / "RUN_SUMMARY.md").read_text()
    assert "Promotion: not eligible" in summary
    incidents = sorted((run_dir / "incidents").glob("2.1-a*"))
    assert incidents, "no incident pack for the phase"
    assert "security:zero-division:calc/ops.py" in (incidents[-1] / "findings.json").read_text()
