"""The CI gate on a real project: JUnit outcomes, flaky reruns, pre-existing failures, issues."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autopack.domain.vocabulary import IssueSource, Severity
from autopack.verify.base import Limits
from autopack.verify.bubblewrap import BubblewrapSandbox
from autopack.verify.findings import verify_issues
from autopack.verify.verifier import run_profile, verify

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
ENV = {"PATH": os.environ["PATH"], "HOME": "/tmp"}


def project(folder: Path, tests: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "test_app.py").write_text(tests)
    return folder


GOOD = "def test_adds():\n    assert 1 + 1 == 2\n"
BROKEN = GOOD + "\ndef test_broken():\n    assert 'a' == 'b', 'strings differ'\n"
FLAKY = GOOD + (
    "\nimport pathlib\n\ndef test_flaky():\n"
    "    marker = pathlib.Path('.ran_once')\n"
    "    if not marker.exists():\n        marker.write_text('x')\n        assert False, 'first run fails'\n"
)


def test_failing_test_fails_the_gate_and_becomes_an_issue(
    tmp_path: Path, sandbox: BubblewrapSandbox
) -> None:
    worktree = project(tmp_path / "wt", BROKEN)
    result = verify(worktree, {"tests": PYTEST}, sandbox, Limits(), tmp_path / "reports", env=ENV)
    assert not result.passed
    assert result.failures == ("test:test_app::test_broken",)
    assert len(result.runs) == 3
    statuses = {t.test_id: t.status.value for t in result.final[0].tests}
    assert statuses == {"test_app::test_adds": "passed", "test_app::test_broken": "failed"}
    issues = verify_issues(result, "run-1", Severity.MAJOR)
    assert [(i.issue_key, i.source, i.severity) for i in issues] == [
        ("test:test_app::test_broken", IssueSource.TEST, Severity.MAJOR)
    ]
    assert "strings differ" in issues[0].summary


def test_flaky_test_is_a_minor_issue_and_passes_the_gate(
    tmp_path: Path, sandbox: BubblewrapSandbox
) -> None:
    worktree = project(tmp_path / "wt", FLAKY)
    result = verify(worktree, {"tests": PYTEST}, sandbox, Limits(), tmp_path / "reports", env=ENV)
    assert result.passed
    assert result.flaky == ("test:test_app::test_flaky",)
    assert len(result.runs) == 2
    [issue] = verify_issues(result, "run-1", Severity.MAJOR)
    assert (issue.issue_key, issue.severity, issue.category) == (
        "flaky:test_app::test_flaky",
        Severity.MINOR,
        "flaky_test",
    )


def test_failures_already_on_the_base_commit_are_pre_existing(
    tmp_path: Path, sandbox: BubblewrapSandbox
) -> None:
    base = project(tmp_path / "base", BROKEN)
    worktree = project(tmp_path / "wt", BROKEN + "\ndef test_new():\n    assert True\n")
    (at_base,) = run_profile(
        base, {"tests": PYTEST}, sandbox, Limits(), tmp_path / "reports", label="base", env=ENV
    )
    known = at_base.failure_keys()
    assert known == {"test:test_app::test_broken"}
    result = verify(
        worktree,
        {"tests": PYTEST},
        sandbox,
        Limits(),
        tmp_path / "reports",
        baseline_failures=known,
        env=ENV,
    )
    assert result.passed
    assert result.pre_existing == ("test:test_app::test_broken",)
    assert verify_issues(result, "run-1", Severity.MINOR) == []


def test_command_without_test_report_fails_as_a_static_check(
    tmp_path: Path, sandbox: BubblewrapSandbox
) -> None:
    worktree = project(tmp_path / "wt", GOOD)
    commands = {"tests": PYTEST, "lint": "echo 'app.py:1: unused import' >&2; exit 1"}
    result = verify(
        worktree, commands, sandbox, Limits(), tmp_path / "reports", max_runs=1, env=ENV
    )
    assert result.failures == ("ci:lint",)
    assert [c.passed for c in result.final] == [True, False]
    [issue] = verify_issues(result, "run-1", Severity.MINOR)
    assert (issue.issue_key, issue.source) == ("ci:lint", IssueSource.STATIC_CHECK)
    assert "unused import" in issue.summary


def test_all_green_runs_once(tmp_path: Path, sandbox: BubblewrapSandbox) -> None:
    worktree = project(tmp_path / "wt", GOOD)
    result = verify(worktree, {"tests": PYTEST}, sandbox, Limits(), tmp_path / "reports", env=ENV)
    assert result.passed
    assert len(result.runs) == 1
    assert result.sandbox == "bubblewrap"
    assert result.final[0].seconds > 0
