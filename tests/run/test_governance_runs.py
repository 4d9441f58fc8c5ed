"""The governance rules as whole runs enforce them: issues, approval, caps, frozen settings.

Each run is real: the demo project in a temporary git repository, the real agent and Auditor over
the official SDK against the fake OpenAI server on loopback, the Verifier in bubblewrap. The tests
assert on what the run left behind: its state, commits and trailers, issue files, summary, and the
CLI's view. docs/governance.md lists which test proves which rule.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Approval, Cleanliness, IssueSource, IssueState, Severity
from autopack.issues.run_issue_index import RunIssueIndex
from autopack.run.execute import RunEnd, create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import database_url_for, open_database
from autopack.store.runs import RunRecord, get_run
from autopack.store.schema import RunRow, utc_now
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, fake_llm_server

Script = Callable[[str, dict[str, Any]], Reply]

FLAKY_TEST = """import pathlib
import unittest


class FlakyTest(unittest.TestCase):
    def test_fails_only_the_first_time(self) -> None:
        marker = pathlib.Path(__file__).with_name(".ran-once")
        first = not marker.exists()
        marker.write_text("x")
        self.assertFalse(first, "the first run fails")
"""

WRONG_SUBTRACT = {
    "op": "insert",
    "path": "calc/ops.py",
    "line": 5,
    "text": "\n\ndef subtract(a: float, b: float) -> float:\n    return a + b\n",
}

MAJOR: dict[str, Any] = {
    "issue_key": "security:zero-division:calc/ops.py",
    "severity": "major",
    "category": "security",
    "confidence": 95,
    "file": "calc/ops.py",
    "evidence": "return a / b",
    "failure_scenario": "divide(1, 0) crashes the service",
    "suggested_fix": "check b first",
    "suggested_patch": "calc/ops.py\n<<<<<<< SEARCH\n    return a / b\n=======\n"
    "    if b == 0:\n        raise ValueError('b')\n    return a / b\n>>>>>>> REPLACE\n",
}

NOTES: list[dict[str, str]] = [
    {
        "issue_key": "docs:no-usage-example",
        "summary": "README shows no example",
        "severity": "minor",
    },
    {"issue_key": "tests:no-property-test", "summary": "ops have no property tests"},
]


def _task(request: dict[str, Any]) -> str:
    return next(
        (m["content"] for m in request["messages"] if m["role"] == "user"), ""
    )  # the Builder's and the Auditor's first message name the phase


def _is_auditor(request: dict[str, Any]) -> bool:
    return "report" in json.dumps(request.get("tools", []))


def _answered(request: dict[str, Any]) -> int:
    return sum(1 for m in request["messages"] if m["role"] == "tool")


def _phase(request: dict[str, Any]) -> str | None:
    for phase in ("1.1", "1.2", "2.1", "2.2"):
        if f"# Phase {phase}:" in _task(request):
            return phase
    return None


def _report(findings: list[dict[str, Any]]) -> Reply:
    return Reply(
        tool_calls=(ToolCall(name="report", arguments={"summary": "x", "findings": findings}),)
    )


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


class Ran:
    """A finished run and what it left behind."""

    def __init__(self, root: Path, end: RunEnd, server: FakeLLMServer):
        self.root, self.end, self.server = root, end, server
        self.run_dir = root / ".autonomous_runs" / end.run_id

    @property
    def record(self) -> RunRecord:
        database = open_database(database_url_for(self.root, {}))
        try:
            return get_run(database, self.end.run_id)
        finally:
            database.close()

    @property
    def index(self) -> RunIssueIndex:
        return RunIssueIndex.model_validate_json(
            (self.run_dir / "run_issue_index.json").read_text()
        )

    def entry(self, key: str) -> Any:
        return next(e for e in self.index.entries if e.issue_key == key)

    @property
    def summary(self) -> str:
        return (self.run_dir / "RUN_SUMMARY.md").read_text()

    def trailers(self, phase: str) -> dict[str, str]:
        text = _git(self.root, "log", "-1", "--format=%(trailers:only,unfold)", self.tag(phase))
        return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)

    def tag(self, phase: str) -> str:
        return f"autopack/{self.end.run_id}/{phase}"

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(app, [*args, "--repo", str(self.root)])


@pytest.fixture(scope="module")
def key_in_env() -> Iterator[None]:
    before = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "test-key"
    yield
    if before is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = before


def run_demo_with(
    root: Path,
    script: Script,
    extra_config: str = "",
    before_execute: Callable[[Path, str], None] | None = None,
) -> Ran:
    with fake_llm_server(script) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + extra_config)
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        if before_execute is not None:
            before_execute(root, run_id)
        end = execute_run(settings, run_id, RunOptions())
    return Ran(root, end, server)


# --- One run that exercises the issue rules -------------------------------------------------
# 1.1: its first attempt fails a check, the second lands; the Builder notes two issues.
# 1.2: the Builder notes the same two issues again.
# 2.1 (security, auto_apply = false): the Auditor reports a major on attempt 1, nothing on 2.
# 2.2: adds a test that fails on its first run and passes on the rerun.


class IssuesScript:
    """The scripted models of the issues run, keeping every request it answered."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.audits_of_2_1 = 0

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        self.requests.append(request)
        phase = _phase(request)
        if _is_auditor(request):
            if phase == "2.1":
                self.audits_of_2_1 += 1
                if self.audits_of_2_1 == 1:
                    return _report([MAJOR])
            return _report([])
        first_step = _answered(request) == 0
        retry = "This is attempt 2" in _task(request)
        if phase == "1.1" and first_step and not retry:
            test = demo_reply(api, request).tool_calls[0].arguments["edits"][1]
            edits = [WRONG_SUBTRACT, test]
            return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": edits}),))
        if phase == "2.2" and first_step:
            edits = demo_reply(api, request).tool_calls[0].arguments["edits"]
            flaky = {"op": "create", "path": "tests/test_flaky.py", "content": FLAKY_TEST}
            return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": [*edits, flaky]}),))
        if phase == "2.1" and retry and _answered(request) == 1:
            # The Auditor's suggested patch, as the feedback carries it, applied as text.
            suggested = _task(request).split("Suggested patch:\n", 1)[1]
            end = suggested.index(">>>>>>> REPLACE\n") + len(">>>>>>> REPLACE\n")
            patch = textwrap.dedent(suggested[:end])  # the prompt indents feedback details
            return Reply(tool_calls=(ToolCall(name="apply_patch", arguments={"patch": patch}),))
        if phase in ("1.1", "1.2") and not first_step:
            finish = {"summary": "done", "suggested_issues": NOTES}
            return Reply(tool_calls=(ToolCall(name="finish", arguments=finish),))
        return demo_reply(api, request)


# The tests of the issues run share its one run: with pytest-xdist they go to the same worker.
ONE_RUN = pytest.mark.xdist_group("issues_run")


@pytest.fixture(scope="module")
def issues_script() -> IssuesScript:
    return IssuesScript()


@pytest.fixture(scope="module")
def issues_run(
    tmp_path_factory: pytest.TempPathFactory, key_in_env: None, issues_script: IssuesScript
) -> Ran:
    # One minor per phase tolerated: tier 1 (two phases) is clean with two distinct open minors,
    # though each of its phases holds both (four, if counted per phase).
    # And 2.1, a security phase, gets the playbook's upper bound of two Builder attempts.
    config = (
        "\n[ruleset.tier]\nminor_issues_per_phase_normal = 1\n"
        "[ruleset.high_risk.security_auth_change]\nmax_builder_attempts = 2\n"
        "max_auditor_attempts = 3\nincident_token_cap = 1000000\nincident_usd_cap = 10\n"
    )
    return run_demo_with(tmp_path_factory.mktemp("issues") / "calc", issues_script, config)


@ONE_RUN
def test_the_issues_run_ends_done_success_with_a_commit_per_phase(issues_run: Ran) -> None:
    assert issues_run.end.state is RunState.DONE_SUCCESS, issues_run.end.message
    for phase in ("1.1", "1.2", "2.1", "2.2"):
        assert issues_run.trailers(phase)["Autopack-Phase"] == phase


@ONE_RUN
def test_a_failing_check_is_a_major_issue_resolved_when_the_next_attempt_lands(
    issues_run: Ran,
) -> None:
    # The phase's acceptance command (the ladder's first test rung) caught the wrong subtract.
    entry = issues_run.entry("acceptance:tests/test_subtract.py")
    assert entry.phases == ("1.1",)
    assert entry.source is IssueSource.TEST
    assert entry.severity is Severity.MAJOR
    assert entry.issue_state is IssueState.RESOLVED
    assert issues_run.trailers("1.1")["Autopack-Attempt"] == "2"


@ONE_RUN
def test_builder_notes_become_issues_and_the_same_key_in_two_phases_counts_once(
    issues_run: Ran,
) -> None:
    for note in NOTES:
        entry = issues_run.entry(note["issue_key"])
        assert entry.source is IssueSource.BUILDER
        assert entry.issue_state is IssueState.OPEN
        assert entry.phases == ("1.1", "1.2")
        assert entry.effective_severity is Severity.MINOR
    tier = issues_run.record.tiers[0]
    assert tier.cleanliness is Cleanliness.CLEAN
    assert "docs:no-usage-example (minor)" in issues_run.summary


@ONE_RUN
def test_a_test_that_fails_then_passes_on_rerun_is_a_minor_flaky_issue(issues_run: Ran) -> None:
    entry = issues_run.entry("flaky:ci:tests")
    assert entry.phases == ("2.2",)
    assert entry.effective_severity is Severity.MINOR
    assert entry.issue_state is IssueState.OPEN
    assert "flaky:ci:tests (minor)" in issues_run.summary


@ONE_RUN
def test_a_major_finding_goes_back_with_its_patch_and_is_resolved_when_not_reported_again(
    issues_run: Ran, issues_script: IssuesScript
) -> None:
    entry = issues_run.entry(MAJOR["issue_key"])
    assert entry.phases == ("2.1",)
    assert entry.issue_state is IssueState.RESOLVED
    assert issues_run.trailers("2.1")["Autopack-Attempt"] == "2"
    second = [
        request
        for request in issues_script.requests
        if _phase(request) == "2.1"
        and not _is_auditor(request)
        and "This is attempt 2" in _task(request)
    ]
    assert second, "attempt 2 of 2.1 was never asked"
    assert "Suggested patch:" in _task(second[0])
    # The Builder applied it with apply_patch, through the gate, and it landed.
    ops = _git(issues_run.root, "show", f"{issues_run.tag('2.1')}:calc/ops.py")
    assert "raise ValueError('b')" in ops


@ONE_RUN
def test_a_high_risk_phase_the_auditor_passes_is_approved_by_the_auditor(issues_run: Ran) -> None:
    phase = next(p for p in issues_run.record.tiers[1].phases if p.phase_id == "2.1")
    assert phase.approval is Approval.APPROVED
    assert phase.approved_by == "auditor"
    assert issues_run.trailers("2.1")["Autopack-Approval"] == "approved by the Auditor"
    assert issues_run.trailers("1.1")["Autopack-Approval"] == "not required"
    assert "Promotion: eligible" in issues_run.summary


# --- Approval by a person ---------------------------------------------------------------------


def _auditor_without_report(api: str, request: dict[str, Any]) -> Reply:
    if _is_auditor(request):
        return Reply(text="Looks fine to me!")
    return demo_reply(api, request)


def test_a_high_risk_phase_without_a_valid_review_commits_but_waits_for_a_person(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run_demo_with(tmp_path / "calc", _auditor_without_report)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    assert ran.trailers("2.1")["Autopack-Approval"] == "pending (autopack approve)"
    assert ran.entry("auditor:no-valid-report").issue_state is IssueState.OPEN
    assert "| 2.1: Division that refuses zero | COMPLETE, awaits approval |" in ran.summary
    assert "phase(s) 2.1 await approval" in ran.summary
    assert "2.1 Division that refuses zero: COMPLETE (1 attempt(s)), awaits approval" in (
        ran.cli("status", ran.end.run_id).output
    )
    refused = ran.cli("promote", ran.end.run_id)
    assert refused.exit_code == 7
    assert "2.1 await approval" in refused.output
    wrong = ran.cli("approve", ran.end.run_id, "1.1")
    assert wrong.exit_code == 7
    assert "nothing to approve" in wrong.output
    approved = ran.cli("approve", ran.end.run_id, "2.1", "--by", "alice", "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["approved_by"] == "alice"
    phase = next(p for p in ran.record.tiers[1].phases if p.phase_id == "2.1")
    assert (phase.approval, phase.approved_by) == (Approval.APPROVED, "alice")
    assert phase.approved_at is not None
    assert f"phase 2.1 of {ran.end.run_id} by alice at " in ran.summary
    assert "approved by alice" in ran.cli("status", ran.end.run_id).output
    again = ran.cli("approve", ran.end.run_id, "2.1", "--by", "bob")
    assert "approved by alice" in again.output  # the first approval stands
    promoted = ran.cli("promote", ran.end.run_id)
    assert promoted.exit_code == 0, promoted.output
    merged = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ran.tag("2.2"), "main"], cwd=ran.root
    )
    assert merged.returncode == 0, "the promoted branch does not hold the last phase"


def _major_note_on_2_2(api: str, request: dict[str, Any]) -> Reply:
    """2.2 (docs, low) lands with a major Builder note, which calls for the Auditor."""
    if _phase(request) == "2.2" and not _is_auditor(request) and _answered(request) == 1:
        note = {"issue_key": "docs:stale-example", "summary": "x", "severity": "major"}
        finish = {"summary": "done", "suggested_issues": [note]}
        return Reply(tool_calls=(ToolCall(name="finish", arguments=finish),))
    return demo_reply(api, request)


def test_an_auditor_key_gone_after_preflight_is_recorded_as_no_valid_report(
    tmp_path: Path, key_in_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The low-complexity Auditor's alias (fast) has a key of its own; it is set when the run is
    # created (preflight passes) and gone when it executes, as in a resume from another shell.
    monkeypatch.setenv("AUDITOR_ONLY_KEY", "auditor-secret-1")
    with fake_llm_server(_major_note_on_2_2) as server:
        config = (
            f'\n[models.aliases.openai-standard]\nbase_url = "{server.openai_base_url}"\n'
            f'\n[models.aliases.openai-fast]\nbase_url = "{server.openai_base_url}"\n'
            'api_key_env = "AUDITOR_ONLY_KEY"\n'
        )
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=config)
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        monkeypatch.delenv("AUDITOR_ONLY_KEY")
        end = execute_run(settings, run_id, RunOptions())
    ran = Ran(root, end, server)
    assert end.state is RunState.DONE_SUCCESS, end.message
    entry = ran.entry("auditor:no-valid-report")
    assert entry.phases == ("2.2",)
    assert entry.issue_state is IssueState.OPEN
    issues = (ran.run_dir / "phase_04_2.2_issues.json").read_text()
    assert "needs an API key in $AUDITOR_ONLY_KEY" in issues
    assert "auditor-secret-1" not in issues


# --- Caps ---------------------------------------------------------------------------------------


def _wrong_first_subtract(api: str, request: dict[str, Any]) -> Reply:
    task = _task(request)
    if (
        _phase(request) == "1.1"
        and not _is_auditor(request)
        and _answered(request) == 0
        and "This is attempt 2" not in task
    ):
        test = demo_reply(api, request).tool_calls[0].arguments["edits"][1]
        return Reply(
            tool_calls=(ToolCall(name="edit", arguments={"edits": [WRONG_SUBTRACT, test]}),)
        )
    return demo_reply(api, request)


def test_the_tier_ci_run_cap_ends_the_run_budget_exhausted_before_an_unverifiable_attempt(
    tmp_path: Path, key_in_env: None
) -> None:
    # Tier 1 has two phases: a cap of 1 per phase allows 2 CI runs, which 1.1 uses by itself.
    ran = run_demo_with(
        tmp_path / "calc", _wrong_first_subtract, "\n[ruleset.tier]\nci_runs_per_phase = 1\n"
    )
    assert ran.end.state is RunState.DONE_FAILED_BUDGET_EXHAUSTED, ran.end.message
    assert ran.record.failure is not None
    assert ran.record.failure.code == "budget.ci_runs"
    assert "tier 1 used its 2 CI runs" in ran.summary
    assert ran.trailers("1.1")["Autopack-Phase"] == "1.1"
    assert not _git(ran.root, "tag", "--list", ran.tag("1.2"))
    assert (ran.run_dir / "incidents" / "1.2-a1" / "REPLAY.md").exists()
    assert "Promotion: not eligible" in ran.summary


def _noting_builder(api: str, request: dict[str, Any]) -> Reply:
    if not _is_auditor(request) and _answered(request) >= 1:
        return Reply(
            tool_calls=(
                ToolCall(
                    name="finish", arguments={"summary": "done", "suggested_issues": NOTES[:1]}
                ),
            )
        )
    return demo_reply(api, request)


def test_the_minor_issue_total_ends_the_run_for_review_once_it_is_passed(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run_demo_with(
        tmp_path / "calc", _noting_builder, "\n[ruleset.run]\nminor_issues_per_phase = 0\n"
    )
    assert ran.end.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW, ran.end.message
    assert ran.record.failure is not None
    assert ran.record.failure.code == "issues.minor_total"
    assert "1 minor issues are open, over the run's cap of 0" in ran.summary
    assert _git(ran.root, "tag", "--list", f"autopack/{ran.end.run_id}/*") == ran.tag("1.1")


def _started_hours_ago(root: Path, run_id: str) -> None:
    database = open_database(database_url_for(root, {}))
    try:
        with database.transaction() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.run_id == run_id)
                .values(created_at=utc_now() - timedelta(hours=10))
            )
    finally:
        database.close()


def test_a_run_past_its_duration_limit_ends_before_its_next_attempt(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run_demo_with(tmp_path / "calc", demo_reply, before_execute=_started_hours_ago)
    assert ran.end.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW, ran.end.message
    assert ran.record.failure is not None
    assert ran.record.failure.code == "run.duration"
    assert sum(ran.server.calls_per_model.values()) == 0  # nothing paid after the limit
    assert "minute limit" in ran.summary


def test_the_run_token_cap_ends_the_run_budget_exhausted_before_an_unaffordable_call(
    tmp_path: Path, key_in_env: None
) -> None:
    # Every call reserves its worst case (about 129,000 tokens here) before it is sent; phase 1.1
    # spends about 6,300 of the 134,000, which leaves too little to reserve 1.2's first call.
    ran = run_demo_with(tmp_path / "calc", demo_reply, "\n[ruleset.run]\ntoken_cap = 134000\n")
    assert ran.end.state is RunState.DONE_FAILED_BUDGET_EXHAUSTED, ran.end.message
    assert "run budget" in (ran.end.message or ""), ran.end.message
    assert "cannot cover the next call" in (ran.end.message or "")
    assert ran.trailers("1.1")["Autopack-Phase"] == "1.1"
    assert not _git(ran.root, "tag", "--list", ran.tag("1.2"))
    assert "Promotion: not eligible" in ran.summary
    assert "the run hit a budget cap" in ran.summary


# --- Frozen settings --------------------------------------------------------------------------


def _break_the_config(root: Path, run_id: str) -> None:
    config = root / "autopack.toml"
    config.write_text(re.sub(r"(?m)^tests = .*$", 'tests = "exit 1"', config.read_text()))
    assert 'tests = "exit 1"' in config.read_text()


def test_a_run_uses_the_settings_it_was_created_with_not_todays_file(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run_demo_with(tmp_path / "calc", demo_reply, before_execute=_break_the_config)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message


# --- Upstream names -----------------------------------------------------------------------------

UPSTREAM_PLAN = """# Calculator

## Tier 1: Reuse

### Phase 1.1: Add subtraction
category: external_code_intake
complexity: low
scope: calc/ops.py, tests/test_subtract.py

Take in `subtract(a, b)` from the team's shared maths snippets, with a unit test.
"""


def test_an_upstream_external_code_intake_phase_gets_the_licence_and_security_review(
    tmp_path: Path, key_in_env: None
) -> None:
    audits: list[dict[str, Any]] = []

    def script(api: str, request: dict[str, Any]) -> Reply:
        if _is_auditor(request):
            audits.append(request)
        return demo_reply(api, request)

    with fake_llm_server(script) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        plan = root / "upstream_plan.md"
        plan.write_text(UPSTREAM_PLAN)
        _git(root, "add", "upstream_plan.md")
        _git(root, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "plan")
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
    ran = Ran(root, end, server)
    assert end.state is RunState.DONE_SUCCESS, end.message
    strategy = json.loads((ran.run_dir / "strategy.json").read_text())
    [phase] = [p for tier in strategy["tiers"] for p in tier["phases"]]
    assert phase["task_category"] == "external_feature_reuse"
    assert phase["auditor_profile"] == "licence_security_review"
    assert phase["high_risk"] is True
    assert "given in the plan as 'external_code_intake'" in phase["category_reason"]
    assert audits, "a high-risk phase is always audited"
    system = json.dumps(audits[0]["messages"][0])
    assert "Profile licence_security_review" in system
    assert "licence is named and compatible" in system
    assert ran.trailers("1.1")["Autopack-Category"] == "external_feature_reuse"


# --- A Builder that repeats itself ------------------------------------------------------------


def test_an_attempt_repeating_an_earlier_diff_and_failures_escalates_the_next_model(
    tmp_path: Path, key_in_env: None
) -> None:
    first_requests: list[dict[str, Any]] = []

    def stubborn(api: str, request: dict[str, Any]) -> Reply:
        if _phase(request) == "1.1" and not _is_auditor(request) and _answered(request) == 0:
            first_requests.append(request)
            if "This is attempt 3" not in _task(request):
                test = demo_reply(api, request).tool_calls[0].arguments["edits"][1]
                edits = [WRONG_SUBTRACT, test]
                return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": edits}),))
        return demo_reply(api, request)

    with fake_llm_server(stubborn) as server:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        config = (root / "autopack.toml").read_text()
        config = config.replace('top = "openai-standard"', 'top = "openai-top"')
        config += f'\n[models.aliases.openai-top]\nbase_url = "{server.openai_base_url}"\n'
        # Enough for one worst-case call of the top model: escalation never outruns the budget.
        config += "\n[ruleset.complexity.low]\ntoken_cap = 200000\nusd_cap = 20\n"
        (root / "autopack.toml").write_text(config)
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
    assert end.state is RunState.DONE_SUCCESS, end.message
    standard, top = settings.aliases["openai-standard"].model, settings.aliases["openai-top"].model
    # Attempt 2 changed nothing and failed the same way: attempt 3 gets the stronger model.
    assert [r["model"] for r in first_requests] == [standard, standard, top]
    assert "same diff and the same 1 failing checks as attempt 1" in _task(first_requests[2])


def _break_the_file(root: Path, run_id: str) -> None:
    (root / "autopack.toml").write_text("[ruleset\nthis is not TOML\n")


def test_a_run_whose_autopack_toml_broke_after_creation_still_runs_to_its_end(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run_demo_with(tmp_path / "calc", demo_reply, before_execute=_break_the_file)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    assert ran.trailers("2.2")["Autopack-Phase"] == "2.2"


# --- Incident budgets -------------------------------------------------------------------------

HIGH_RISK_TWO_ATTEMPTS = (
    "\n[ruleset.high_risk.security_auth_change]\nmax_builder_attempts = 2\n"
    "max_auditor_attempts = 3\nincident_token_cap = 1000000\nincident_usd_cap = 10\n"
)


def test_each_attempt_of_a_high_risk_phase_gets_its_budget_within_the_incident_budget(
    tmp_path: Path, key_in_env: None
) -> None:
    # A high-risk phase is of high complexity: its budget of 137,000 tokens covers about one
    # attempt of phase 2.1 (each call reserves ~130,000); its incident budget of 1,000,000
    # covers both. The second attempt gets a budget of its own.
    audits = 0

    def major_once(api: str, request: dict[str, Any]) -> Reply:
        nonlocal audits
        if _is_auditor(request) and _phase(request) == "2.1":
            audits += 1
            return _report([MAJOR] if audits == 1 else [])
        return demo_reply(api, request)

    config = HIGH_RISK_TWO_ATTEMPTS + "[ruleset.complexity.high]\ntoken_cap = 137000\nusd_cap = 5\n"
    ran = run_demo_with(tmp_path / "calc", major_once, config)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    assert ran.trailers("2.1")["Autopack-Attempt"] == "2"
    strategy = json.loads((ran.run_dir / "strategy.json").read_text())
    [phase] = [p for t in strategy["tiers"] for p in t["phases"] if p["phase_id"] == "2.1"]
    assert (phase["budget"]["tokens"], phase["incident_budget"]["tokens"]) == (137_000, 1_000_000)


def test_a_builder_note_without_a_severity_is_major_in_a_high_risk_phase_and_minor_elsewhere(
    tmp_path: Path, key_in_env: None
) -> None:
    def noting(api: str, request: dict[str, Any]) -> Reply:
        phase = _phase(request)
        if not _is_auditor(request) and _answered(request) >= 1 and phase in ("1.1", "2.1"):
            note = {"issue_key": f"review:note-{phase}", "summary": "worth a second look"}
            finish = {"summary": "done", "suggested_issues": [note]}
            return Reply(tool_calls=(ToolCall(name="finish", arguments=finish),))
        return demo_reply(api, request)

    ran = run_demo_with(tmp_path / "calc", noting)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    assert ran.entry("review:note-1.1").effective_severity is Severity.MINOR
    assert ran.entry("review:note-2.1").effective_severity is Severity.MAJOR
    assert [t.cleanliness for t in ran.record.tiers] == [Cleanliness.CLEAN, Cleanliness.NOT_CLEAN]
    assert "tier(s) 2 are not clean" in ran.summary
