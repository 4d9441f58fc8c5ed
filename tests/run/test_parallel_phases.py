"""Phases of a tier built at once (`run.max_parallel_phases`), landing one at a time.

Each live phase builds from the integration branch's head, is merged onto the head as it is when
it passes the gate, is checked on exactly that merged tree, and commits only if the head has not
moved since; two phases touching the same lines meet in the merge, and the one that loses is
rebuilt by the Builder from the conflict, on the new head.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import PLAN, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import PhaseState, RunState
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_totals
from autopack.store.progress import progress_after
from autopack.store.runs import EventRecord, get_run, list_events
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server
from autopack.testing.kills import (
    KILLED,
    leftovers,
    only_run,
    outcome,
    resume_run,
    start_run,
    trace_run,
)


def _demo_phase(phase_id: str, depends_on: str = "") -> str:
    """The demo plan's own block for a phase, optionally made to wait for another."""
    found = re.search(rf"^### Phase {re.escape(phase_id)}:.*?(?=^##|\Z)", PLAN, re.S | re.M)
    assert found is not None, phase_id
    header, _, body = found.group(0).strip().partition("\n\n")
    wait = f"\ndepends_on: {depends_on}" if depends_on else ""
    return f"{header}{wait}\n\n{body}\n\n"


def _plan(*tiers: str) -> str:
    return "# Calculator\n\n" + "".join(
        f"## Tier {number}: Tier {number}\n\n{tier}" for number, tier in enumerate(tiers, 1)
    )


# The demo's 1.1 and 1.2 both insert their function at line 5 of calc/ops.py.
SAME_LINES_PLAN = _plan(_demo_phase("1.1") + _demo_phase("1.2"))

# 1.2 waits for 1.1 (the same lines again, so only in that order are they free of conflict);
# 2.2 touches only README.md and may run beside either.
DEPENDENT_PLAN = _plan(_demo_phase("1.1") + _demo_phase("1.2", "1.1") + _demo_phase("2.2"))


def _parallel(limit: int, extra: str = "") -> str:
    return f"\n[ruleset.run]\nmax_parallel_phases = {limit}\n{extra}"


@dataclass
class Ran:
    root: Path
    run_id: str
    state: RunState
    events: list[dict[str, Any]]
    moves: list[EventRecord]

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True
        ).stdout

    def commits(self) -> list[tuple[str, str, str]]:
        """(sha, phase, attempt) of each commit on the integration branch, oldest first."""
        log = self.git(
            "log",
            "--reverse",
            "--format=%H %(trailers:key=Autopack-Phase,valueonly,separator=) "
            "%(trailers:key=Autopack-Attempt,valueonly,separator=)",
            f"main..autopack/{self.run_id}",
        )
        return [
            (sha, phase, attempt)
            for sha, phase, attempt in (line.split() for line in log.splitlines())
        ]

    def index(self, kind: str, phase: str, **match: Any) -> int:
        for number, event in enumerate(self.events):
            wanted = event["kind"] == kind and event.get("phase") == phase
            if wanted and all(event.get(key) == value for key, value in match.items()):
                return number
        raise AssertionError(f"no {kind} event of phase {phase} with {match}")


def _run_plan(
    root: Path,
    plan_text: str,
    limit: int,
    extra: str = "",
    pause: float = 0.0,
    reply: Callable[[str, dict[str, Any]], Reply] = demo_reply,
    tables: str = "",
) -> Ran:
    """The plan run by the demo's developer (or `reply`); `pause`: the checks take that much
    longer (a CI command of the demo's `normal` profile, which the config's first lines extend)."""
    with fake_llm_server(reply) as server:
        slower = f"pause = \"{sys.executable} -c 'import time; time.sleep({pause})'\"\n"
        config = slower + aliases_on(server.openai_base_url) + _parallel(limit, extra) + tables
        create_project(root, extra_config=config)
        plan = root / "plan.md"
        plan.write_text(plan_text, encoding="utf-8")
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, plan, options)
        end = execute_run(settings, run_id, options)
    database = open_database(settings.database_url)
    try:
        events = [event.as_message() for event in progress_after(database, 0, run_id=run_id)]
        moves = list_events(database, run_id)
    finally:
        database.close()
    return Ran(root, run_id, end.state, events, moves)


def _tests_pass_at(ran: Ran, sha: str, where: Path) -> bool:
    ran.git("worktree", "add", "--detach", "--quiet", str(where), sha)
    try:
        checked = subprocess.run(
            [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."],
            cwd=where,
            capture_output=True,
            text=True,
        )
        return checked.returncode == 0
    finally:
        ran.git("worktree", "remove", "--force", str(where))


pytestmark = pytest.mark.usefixtures("own_database")


def test_two_phases_touching_the_same_lines_one_commits_and_the_other_is_rebuilt_after(
    tmp_path: Path,
) -> None:
    ran = _run_plan(tmp_path / "calc", SAME_LINES_PLAN, limit=2)
    assert ran.state is RunState.DONE_SUCCESS
    commits = ran.commits()
    assert sorted(phase for _, phase, _ in commits) == ["1.1", "1.2"]
    (_, first, first_attempt), (_, second, second_attempt) = commits
    # Both were built from the same head at once; the one that landed second met the first's
    # lines when it was merged behind it in the merge train, and went back to its Builder with
    # the conflict; its next attempt was built on the first's change.
    assert (first_attempt, second_attempt) == ("1", "2")
    for phase in ("1.1", "1.2"):
        assert ran.index("attempt", phase, step="build", attempt=1) < ran.index("committed", first)
    rejected = ran.events[ran.index("rejected", second, attempt=1)]
    assert "conflicts in calc/ops.py" in rejected["why"], rejected
    ops = ran.git("show", f"autopack/{ran.run_id}:calc/ops.py")
    assert "def subtract" in ops
    assert "def multiply" in ops
    # Every commit on the integration branch passes the project's tests on its own tree.
    for number, (sha, _, _) in enumerate(commits):
        assert _tests_pass_at(ran, sha, tmp_path / f"check-{number}"), sha


def test_a_phase_starts_once_the_phase_it_depends_on_committed_and_others_run_beside(
    tmp_path: Path,
) -> None:
    # 1.1 and 2.2 are built at once from the same head; each one's checks take seconds longer
    # than the other's build could lag, so both are checked at once.
    ran = _run_plan(tmp_path / "calc", DEPENDENT_PLAN, limit=2, pause=2.0)
    assert ran.state is RunState.DONE_SUCCESS
    commits = ran.commits()
    assert sorted(phase for _, phase, _ in commits) == ["1.1", "1.2", "2.2"]
    assert all(attempt == "1" for _, _, attempt in commits), commits
    # The second to commit was merged behind the first in the merge train and checked on that
    # tree while the first was checked: once, and it landed without being merged again.
    first, second = commits[0][1], commits[1][1]
    assert {first, second} == {"1.1", "2.2"}
    verified = [e for e in ran.events if e["kind"] == "attempt" and e["step"] == "verify"]
    assert [e["phase"] for e in verified].count(second) == 1
    assert ran.index("attempt", second, step="verify") < ran.index("committed", first)
    assert not [m for m in ran.moves if m.event == "REMERGE"]
    assert ran.index("phase_started", "1.2") > ran.index("committed", "1.1")
    # 2.2 did not wait: it was built while 1.1 was still live.
    assert ran.index("attempt", "2.2", step="build", attempt=1) < ran.index("committed", "1.1")
    for number, (sha, _, _) in enumerate(commits):
        assert _tests_pass_at(ran, sha, tmp_path / f"check-{number}"), sha


def test_with_one_phase_at_a_time_the_phases_run_in_plan_order(tmp_path: Path) -> None:
    ran = _run_plan(tmp_path / "calc", SAME_LINES_PLAN, limit=1)
    assert ran.state is RunState.DONE_SUCCESS
    assert [(phase, attempt) for _, phase, attempt in ran.commits()] == [("1.1", "1"), ("1.2", "1")]
    assert ran.index("phase_started", "1.2") > ran.index("committed", "1.1")


@pytest.mark.parametrize("point", ["step:verify#1", "step:commit:returned#1"])
def test_a_run_killed_with_phases_live_resumes_them_and_ends_as_a_kill_free_run(
    tmp_path: Path, point: str
) -> None:
    env = {"OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}
    with fake_llm_server(demo_reply) as server:
        config = aliases_on(server.openai_base_url) + _parallel(2)
        plan = tmp_path / "plan.md"
        plan.write_text(DEPENDENT_PLAN, encoding="utf-8")
        reference = tmp_path / "reference"
        create_project(reference, extra_config=config)
        points = trace_run(reference, plan, env, tmp_path / "trace.txt")
        assert point in points
        expected = outcome(reference, only_run(reference))
        assert expected.state == RunState.DONE_SUCCESS.value

        root = tmp_path / "killed"
        create_project(root, extra_config=config)
        assert start_run(root, plan, env, kill_at=point) == KILLED
        run_id = only_run(root)
        assert resume_run(root, run_id, env) == 0
        resumed = outcome(root, run_id)
    assert resumed.state == RunState.DONE_SUCCESS.value
    assert resumed.phases == ["1.1", "1.2", "2.2"]  # each phase committed once
    assert resumed.change == expected.change
    assert not leftovers(root)


# The demo's developer has no edit for 9.9: each attempt changes nothing, and the phase fails.
FAILING_PLAN = """# Calculator

## Tier 1: Operations

### Phase 9.9: Something nobody builds
category: feature
complexity: low
scope: calc/ops.py

Add nothing.

### Phase 1.1: Add subtraction
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py
acceptance: tests/test_subtract.py

Add `subtract(a, b)` to calc/ops.py with a unit test.

### Phase 2.2: Document the operations
category: docs
complexity: low
scope: README.md
depends_on: 9.9

List every operation in README.md with a one-line example each.

## Tier 2: Later

### Phase 1.2: Add multiplication
category: feature
complexity: low
scope: calc/ops.py, tests/test_multiply.py

Add `multiply(a, b)` to calc/ops.py with a unit test.
"""


@pytest.mark.parametrize(("limit", "beside"), [(1, PhaseState.SKIPPED), (2, PhaseState.COMPLETE)])
def test_a_failed_phase_ends_the_run_with_its_own_reason_and_what_waited_never_starts(
    tmp_path: Path, limit: int, beside: PhaseState
) -> None:
    ran = _run_plan(tmp_path / "calc", FAILING_PLAN, limit=limit)
    assert ran.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW
    database = open_database(load_settings(ran.root).database_url)
    try:
        run = get_run(database, ran.run_id)
    finally:
        database.close()
    assert run.failure is not None
    assert run.failure.code == "review.phase_failed"
    assert "9.9" in run.failure.message
    states = {phase.phase_id: phase.state for tier in run.tiers for phase in tier.phases}
    assert states == {
        "9.9": PhaseState.FAILED,
        # Beside 9.9 and done before it failed; or, one phase at a time, never started.
        "1.1": beside,
        "2.2": PhaseState.SKIPPED,
        "1.2": PhaseState.SKIPPED,
    }
    assert [phase for _, phase, _ in ran.commits()] == (["1.1"] if limit > 1 else [])
    assert not any(event.get("phase") in ("2.2", "1.2") for event in ran.events)


def test_live_phases_reserve_against_one_run_budget(tmp_path: Path) -> None:
    # Each call reserves its worst case (about 129,000 tokens) before it is sent. With room for
    # one such reservation, the phase that reserves second cannot call while the first's is held:
    # the run ends on its budget, though each phase alone would have fitted.
    ran = _run_plan(tmp_path / "calc", SAME_LINES_PLAN, limit=2, extra="token_cap = 134000\n")
    assert ran.state is RunState.DONE_FAILED_BUDGET_EXHAUSTED
    database = open_database(load_settings(ran.root).database_url)
    try:
        spent = ledger_totals(database, ran.run_id)
        run = get_run(database, ran.run_id)
    finally:
        database.close()
    assert spent.tokens <= 134_000
    assert run.failure is not None
    assert "run budget" in run.failure.message
    assert len(ran.commits()) <= 1


def test_live_phases_stop_before_their_next_attempt_once_a_phase_failed(tmp_path: Path) -> None:
    # 9.9 fails within seconds, while 2.1 is still in its checks (3 s longer) and its review; the
    # Auditor sends 2.1's first attempt back, and its next attempt never starts: the run ends
    # with 9.9's reason.
    halting_plan = FAILING_PLAN.split("### Phase 1.1")[0] + _demo_phase("2.1")
    ran = _run_plan(
        tmp_path / "calc",
        halting_plan,
        limit=2,
        pause=3.0,
        reply=_reviewed_twice_and_documented_late(),
    )
    assert ran.state is RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW
    database = open_database(load_settings(ran.root).database_url)
    try:
        run = get_run(database, ran.run_id)
    finally:
        database.close()
    assert run.failure is not None
    assert run.failure.code == "review.phase_failed"
    assert "9.9" in run.failure.message
    assert ran.commits() == []
    states = {phase.phase_id: phase.state for tier in run.tiers for phase in tier.phases}
    assert states == {"9.9": PhaseState.FAILED, "2.1": PhaseState.FAILED}
    ran.index("rejected", "2.1", attempt=1)
    builds = [e for e in ran.events if e["kind"] == "attempt" and e["step"] == "build"]
    assert [e["attempt"] for e in builds if e["phase"] == "2.1"] == [1]


TIER_2_PLAN = _plan(_demo_phase("2.1") + _demo_phase("2.2"))

# 2.1 is a security change: one attempt unless the ruleset allows more.
SECOND_ATTEMPT_FOR_2_1 = "\n[ruleset.high_risk.security_auth_change]\nmax_builder_attempts = 2\n"

MAJOR = {
    "issue_key": "security:zero-division:calc/ops.py",
    "severity": "major",
    "category": "security",
    "confidence": 95,
    "file": "calc/ops.py",
    "evidence": "return a / b",
    "failure_scenario": "divide(1, 0) crashes the service",
    "suggested_fix": "check b first",
}


def _reviewed_twice_and_documented_late() -> Callable[[str, dict[str, Any]], Reply]:
    """The demo's developer, whose Auditor finds a major in 2.1's first attempt after 10 s, and
    whose 2.2 Builder finishes 4 s late: 2.1 passes the gate first, and 2.2 behind it while the
    Auditor still reviews 2.1 (the fake server waits outside its lock, so both proceed)."""
    audits = 0

    def reply(api: str, request: dict[str, Any]) -> Reply:
        nonlocal audits
        answer = demo_reply(api, request)
        text = json.dumps(request.get("messages", []))
        names = [call.name for call in answer.tool_calls]
        if names == ["report"] and "# Phase 2.1:" in text:
            audits += 1
            if audits == 1:
                findings = {"summary": "x", "findings": [MAJOR]}
                # Its review takes 10 s, so 2.1 is still in the merge train when 2.2 joins.
                return Reply(tool_calls=(ToolCall(name="report", arguments=findings),), delay=10.0)
        if names == ["finish"] and "# Phase 2.2:" in text:
            return answer.model_copy(update={"delay": 4.0})
        return answer

    return reply


def test_a_phase_behind_one_that_fails_in_the_merge_train_is_merged_and_checked_again(
    tmp_path: Path,
) -> None:
    ran = _run_plan(
        tmp_path / "calc",
        TIER_2_PLAN,
        limit=2,
        pause=1.0,
        reply=_reviewed_twice_and_documented_late(),
        tables=SECOND_ATTEMPT_FOR_2_1,
    )
    assert ran.state is RunState.DONE_SUCCESS
    commits = ran.commits()
    assert sorted((phase, attempt) for _, phase, attempt in commits) == [("2.1", "2"), ("2.2", "1")]
    # 2.2 was checked behind 2.1's first attempt; when the Auditor sent that attempt back, 2.2
    # was merged again without it and checked again before it landed.
    remerged = [m.entity_id for m in ran.moves if m.entity == "phase" and m.event == "REMERGE"]
    assert remerged == ["2.2"]
    verified = [e["phase"] for e in ran.events if e["kind"] == "attempt" and e["step"] == "verify"]
    assert verified.count("2.2") == 2
    assert ran.index("rejected", "2.1", attempt=1) < ran.index("committed", "2.2")
    for number, (sha, _, _) in enumerate(commits):
        assert _tests_pass_at(ran, sha, tmp_path / f"check-{number}"), sha
