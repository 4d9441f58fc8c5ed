"""The verification ladder as whole runs enforce it, on a bugfix whose failing test is committed at
the base (the way bug reports arrive): a patch that leaves the test failing, a comment-only patch
and a patch that deletes the test are refused; the real fix commits with its fail-to-pass evidence.

Real runs: a pytest project in a temporary git repository, the real agent over the official SDK
against the fake OpenAI server on loopback, the Verifier in bubblewrap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.domain.states import RunState
from autopack.run.execute import RunEnd, create_run, execute_run
from autopack.run.services import RunOptions
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

BUGGY = "def mean(values: list[float]) -> float:\n    return sum(values) / (len(values) + 1)\n"
FIXED = "def mean(values: list[float]) -> float:\n    return sum(values) / len(values)\n"
COMMENTED = BUGGY.replace("def mean", "# mean of the values\ndef mean")
TEST_MEAN = (
    "from stats.core import mean\n\n\ndef test_mean_of_two():\n    assert mean([1, 3]) == 2\n"
)
TEST_SHAPE = (
    "from stats.core import mean\n\n\ndef test_mean_is_a_float():\n"
    "    assert isinstance(mean([1.0]), float)\n"
)


def _config(base_url: str) -> str:
    return f"""[project]
id = "stats"

[routing]
top = "openai-standard"
standard = "openai-standard"
fast = "openai-fast"

[models.aliases.openai-standard]
base_url = "{base_url}"

[models.aliases.openai-fast]
base_url = "{base_url}"

[ci.normal.commands]
tests = "{sys.executable} -m pytest -q -p no:cacheprovider tests"
"""


def _plan(acceptance: str, attempts_note: str = "") -> str:
    line = f"acceptance: {acceptance}\n" if acceptance else ""
    return f"""# Stats fixes
## Tier 1: Fixes
### Phase 1.1: Fix the mean of a list
category: bugfix
complexity: low
scope: stats/core.py, tests/test_mean.py
{line}
mean([1, 3]) returns 1.33 instead of 2. {attempts_note}
"""


def _project(root: Path, base_url: str, plan: str, with_failing_test: bool) -> Path:
    files = {
        "stats/__init__.py": "",
        "stats/core.py": BUGGY,
        "tests/test_shape.py": TEST_SHAPE,
        "autopack.toml": _config(base_url),
        "comprehensive_plan.md": plan,
    }
    if with_failing_test:
        files["tests/test_mean.py"] = TEST_MEAN
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for args in (
        ["init", "-q", "--initial-branch=main"],
        ["add", "-A"],
        ["commit", "-qm", "stats with a bug report"],
    ):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True
        )
    return root / "comprehensive_plan.md"


def _attempt(request: dict[str, Any]) -> int:
    task = next((m["content"] for m in request["messages"] if m["role"] == "user"), "")
    for number in range(9, 1, -1):
        if f"This is attempt {number}" in task:
            return number
    return 1


def _is_auditor(request: dict[str, Any]) -> bool:
    return "report" in json.dumps(request.get("tools", []))


def builder_by_attempt(edits: dict[int, list[dict[str, Any]]]) -> Callable[..., Reply]:
    """Attempt n sends edits[n], then finishes; the Auditor finds nothing."""

    def reply(api: str, request: dict[str, Any]) -> Reply:
        if _is_auditor(request):
            report = {"summary": "ok", "findings": []}
            return Reply(tool_calls=(ToolCall(name="report", arguments=report),))
        if not any(m["role"] == "tool" for m in request["messages"]):
            chosen = edits[_attempt(request)]
            return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": chosen}),))
        return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))

    return reply


def _replace(path: str, old: str, new: str) -> dict[str, Any]:
    return {"op": "str_replace", "path": path, "old": old, "new": new}


FIX = _replace("stats/core.py", BUGGY, FIXED)
WRONG_FIX = _replace("stats/core.py", "(len(values) + 1)", "(len(values) + 2)")
COMMENT_ONLY = _replace("stats/core.py", BUGGY, COMMENTED)
DELETE_TEST = {"op": "delete", "path": "tests/test_mean.py"}


class Ran:
    def __init__(self, root: Path, end: RunEnd):
        self.root, self.end = root, end
        self.run_dir = root / ".autonomous_runs" / end.run_id

    def ladder(self, attempt: int) -> dict[str, Any]:
        path = self.run_dir / "reports" / f"1.1-a{attempt}" / "ladder.json"
        record: dict[str, Any] = json.loads(path.read_text())
        return record

    @property
    def issues(self) -> dict[str, dict[str, Any]]:
        data = json.loads((self.run_dir / "phase_01_1.1_issues.json").read_text())
        return {issue["issue_key"]: issue for issue in data["issues"]}

    def core_on_branch(self) -> str:
        return subprocess.run(
            ["git", "show", f"autopack/{self.end.run_id}:stats/core.py"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    @property
    def summary(self) -> str:
        return (self.run_dir / "RUN_SUMMARY.md").read_text()


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def run(
    root: Path,
    edits: dict[int, list[dict[str, Any]]],
    *,
    acceptance: str = "tests/test_mean.py::test_mean_of_two",
    with_failing_test: bool = True,
    attempts: int = 4,
) -> Ran:
    with fake_llm_server(builder_by_attempt(edits)) as server:
        plan = _project(root, server.openai_base_url, _plan(acceptance), with_failing_test)
        extra = (
            f"\n[ruleset.modes.tweak_light]\nmax_builder_attempts = {attempts}\n"
            "\n[ruleset.tier]\nci_runs_per_phase = 5\n"
        )
        with (root / "autopack.toml").open("a") as config:
            config.write(extra)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "attempts"],
            cwd=root,
            check=True,
        )
        settings = load_settings(root)
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions())
    return Ran(root, end)


def test_a_bugfix_commits_only_the_patch_that_turns_its_failing_acceptance_test_green(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run(
        tmp_path / "stats",
        {1: [WRONG_FIX], 2: [COMMENT_ONLY], 3: [DELETE_TEST, FIX], 4: [FIX]},
    )
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    # The test fails at the base, yet it is never set aside as "pre-existing".
    for attempt in (1, 2):
        ladder = ran.ladder(attempt)
        assert ladder["stopped_at"] == "acceptance", ladder
    assert ran.ladder(3)["stopped_at"] == "tests-kept"
    landed = ran.ladder(4)
    assert landed["passed"]
    assert landed["stopped_at"] is None
    assert "acceptance:tests/test_mean.py::test_mean_of_two" in landed["fail_to_pass"]
    assert landed["vector"]["test:tests.test_mean::test_mean_of_two"] == "passed"
    assert landed["pass_to_pass"] == 1  # test_shape passed before and after
    # Both test files import stats.core: running them first would be a second full run.
    targeted = next(rung for rung in landed["rungs"] if rung["name"] == "targeted")
    assert targeted["skipped"]
    assert targeted["detail"] == "the changed code's tests are 2 of the suite's 2 files"
    assert ran.core_on_branch() == FIXED
    issues = ran.issues
    assert issues["acceptance:tests/test_mean.py::test_mean_of_two"]["issue_state"] == "resolved"
    assert issues["tests:deleted-file:tests/test_mean.py"]["issue_state"] == "resolved"
    assert "| fail-to-pass 2, pass-to-pass 1 |" in ran.summary


def test_a_bugfix_without_any_test_that_fails_on_the_old_code_is_not_done(
    tmp_path: Path, key_in_env: None
) -> None:
    ran = run(
        tmp_path / "stats",
        {1: [FIX]},
        acceptance="",
        with_failing_test=False,
        attempts=1,
    )
    assert ran.end.state is not RunState.DONE_SUCCESS
    assert ran.ladder(1)["stopped_at"] == "evidence"
    assert "bugfix:no-fail-to-pass" in ran.issues
    assert (
        "add a test that reproduces the bug"
        in ran.issues["bugfix:no-fail-to-pass"]["summary"].lower()
    )


def test_a_bugfix_with_a_new_reproducing_test_has_its_evidence(
    tmp_path: Path, key_in_env: None
) -> None:
    new_test = {"op": "create", "path": "tests/test_mean.py", "content": TEST_MEAN}
    ran = run(tmp_path / "stats", {1: [new_test, FIX]}, acceptance="", with_failing_test=False)
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    assert ran.ladder(1)["fail_to_pass"] == ["test-file:tests/test_mean.py"]


def test_a_bugfix_acceptance_test_already_green_at_the_base_is_a_weak_acceptance(
    tmp_path: Path, key_in_env: None
) -> None:
    new_test = {"op": "create", "path": "tests/test_mean.py", "content": TEST_MEAN}
    ran = run(
        tmp_path / "stats",
        {1: [new_test, FIX]},
        acceptance="tests/test_shape.py::test_mean_is_a_float",
        with_failing_test=False,
    )
    assert ran.end.state is RunState.DONE_SUCCESS, ran.end.message
    weak = ran.issues["acceptance-weak:tests/test_shape.py::test_mean_is_a_float"]
    assert (weak["severity"], weak["issue_state"]) == ("minor", "open")
    assert ran.ladder(1)["weak_acceptance"] == ["tests/test_shape.py::test_mean_is_a_float"]
