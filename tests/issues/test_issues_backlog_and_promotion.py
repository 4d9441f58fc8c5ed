"""Backlog aging across runs, tier cleanliness and promotion eligibility."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack.domain.issues import BacklogEntry, PhaseIssue
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Cleanliness, IssueSource, IssueState, Severity
from autopack.issues.atomic_json import read_json_model
from autopack.issues.backlog_aging import (
    AgingThresholds,
    BacklogFile,
    age_backlog,
    effective_severity,
    write_backlog_file,
)
from autopack.issues.phase_issue_file import PhaseIssueFile
from autopack.issues.promotion import (
    TierTolerance,
    distinct_open_counts,
    promotion_eligibility,
    tier_cleanliness,
)
from autopack.issues.run_issue_index import RunIndexEntry, RunIssueIndex

DEFAULTS = AgingThresholds()


def seen(
    key: str, *tiers: str, severity: Severity = Severity.MINOR, state: IssueState = IssueState.OPEN
) -> RunIndexEntry:
    return RunIndexEntry(
        issue_key=key,
        severity=severity,
        effective_severity=severity,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        occurrence_count=1,
        phases=("p",),
        tiers=tiers or ("1",),
        paths=(f"src/{key}.py",),
        issue_state=state,
    )


def run(run_id: str, *entries: RunIndexEntry) -> RunIssueIndex:
    return RunIssueIndex(run_id=run_id, entries=entries)


def test_minor_becomes_effectively_major_at_the_third_run_not_before() -> None:
    backlog: list[BacklogEntry] = []
    for number in (1, 2):
        backlog = age_backlog(backlog, run(f"run-{number}", seen("x")), DEFAULTS)
        assert backlog[0].effective_severity is Severity.MINOR
        assert backlog[0].age_in_runs == number
    backlog = age_backlog(backlog, run("run-3", seen("x")), DEFAULTS)
    entry = backlog[0]
    assert (entry.age_in_runs, entry.severity, entry.effective_severity) == (
        3,
        Severity.MINOR,
        Severity.MAJOR,
    )
    assert (entry.first_seen_run, entry.last_seen_run, entry.occurrence_count) == (
        "run-1",
        "run-3",
        3,
    )


def test_minor_seen_in_two_tiers_is_effectively_major() -> None:
    backlog = age_backlog([], run("run-1", seen("x", "1")), DEFAULTS)
    assert backlog[0].effective_severity is Severity.MINOR
    backlog = age_backlog([], run("run-1", seen("x", "1", "2")), DEFAULTS)
    assert (backlog[0].age_in_tiers, backlog[0].effective_severity) == (2, Severity.MAJOR)


def test_unseen_keys_are_left_alone_and_resolved_keys_are_resolved() -> None:
    backlog = age_backlog([], run("run-1", seen("x"), seen("y")), DEFAULTS)
    backlog = age_backlog(backlog, run("run-2", seen("y", state=IssueState.RESOLVED)), DEFAULTS)
    by_key = {entry.issue_key: entry for entry in backlog}
    assert (by_key["x"].age_in_runs, by_key["x"].issue_state, by_key["x"].last_seen_run) == (
        1,
        IssueState.OPEN,
        "run-1",
    )
    assert by_key["y"].issue_state is IssueState.RESOLVED


def test_thresholds_are_configurable() -> None:
    strict = AgingThresholds(runs=1, tiers=5)
    assert age_backlog([], run("run-1", seen("x")), strict)[0].effective_severity is Severity.MAJOR


@given(
    severity=st.sampled_from(Severity),
    runs=st.integers(0, 10),
    tiers=st.integers(0, 10),
    threshold_runs=st.integers(1, 5),
    threshold_tiers=st.integers(1, 5),
)
def test_effective_severity_is_never_below_severity(
    severity: Severity, runs: int, tiers: int, threshold_runs: int, threshold_tiers: int
) -> None:
    thresholds = AgingThresholds(runs=threshold_runs, tiers=threshold_tiers)
    result = effective_severity(severity, runs, tiers, thresholds)
    if severity is Severity.MAJOR:
        assert result is Severity.MAJOR
    aged = runs >= threshold_runs or tiers >= threshold_tiers
    assert result is (Severity.MAJOR if aged or severity is Severity.MAJOR else Severity.MINOR)


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), min_size=1, max_size=6))
def test_age_never_decreases_for_keys_seen_again(runs_of_keys: list[list[str]]) -> None:
    backlog: list[BacklogEntry] = []
    for number, keys in enumerate(runs_of_keys, start=1):
        before = {entry.issue_key: entry for entry in backlog}
        backlog = age_backlog(
            backlog, run(f"run-{number}", *(seen(k) for k in dict.fromkeys(keys))), DEFAULTS
        )
        for entry in backlog:
            if entry.issue_key in before:
                assert entry.age_in_runs >= before[entry.issue_key].age_in_runs
            assert entry.effective_severity is Severity.MAJOR or entry.severity is Severity.MINOR


def test_backlog_file_round_trips(tmp_path: Path) -> None:
    backlog = age_backlog([], run("run-1", seen("x"), seen("y", severity=Severity.MAJOR)), DEFAULTS)
    path = tmp_path / "project_issue_backlog.json"
    write_backlog_file(path, "demo", backlog)
    loaded = read_json_model(path, BacklogFile, "project issue backlog")
    assert (loaded.project_id, list(loaded.issues)) == ("demo", backlog)


@pytest.mark.parametrize(
    ("minors", "majors", "expected"),
    [
        (4, 0, Cleanliness.CLEAN),
        (5, 0, Cleanliness.NOT_CLEAN),
        (0, 1, Cleanliness.CLEAN),
        (0, 2, Cleanliness.NOT_CLEAN),
    ],
)
def test_tier_cleanliness_boundaries(minors: int, majors: int, expected: Cleanliness) -> None:
    tolerance = TierTolerance(minor_issues_tolerated=4, major_issues_tolerated=1)
    assert tier_cleanliness(minors, majors, tolerance) is expected


def test_safety_critical_tolerance_of_zero_majors() -> None:
    assert (
        tier_cleanliness(0, 1, TierTolerance(minor_issues_tolerated=3, major_issues_tolerated=0))
        is Cleanliness.NOT_CLEAN
    )


def test_clean_successful_run_is_promotable() -> None:
    decision = promotion_eligibility(
        RunState.DONE_SUCCESS, {"1": Cleanliness.CLEAN, "2": Cleanliness.CLEAN}
    )
    assert decision.eligible
    assert decision.reasons == ()


@pytest.mark.parametrize(
    ("state", "tiers", "code", "reason"),
    [
        (
            RunState.DONE_FAILED_ENVIRONMENT,
            {"1": Cleanliness.CLEAN},
            "environment.git",
            "not DONE_SUCCESS",
        ),
        (
            RunState.DONE_SUCCESS,
            {"1": Cleanliness.CLEAN, "2": Cleanliness.NOT_CLEAN},
            None,
            "tier(s) 2 are not clean",
        ),
        (
            RunState.DONE_FAILED_BUDGET_EXHAUSTED,
            {"1": Cleanliness.CLEAN},
            "budget.run_usd",
            "budget cap",
        ),
        (RunState.DONE_SUCCESS, {"1": Cleanliness.CLEAN}, "budget.tier_tokens", "budget cap"),
    ],
)
def test_each_blocking_cause_is_named(
    state: RunState, tiers: dict[str, Cleanliness], code: str | None, reason: str
) -> None:
    decision = promotion_eligibility(state, tiers, code)
    assert not decision.eligible
    assert any(reason in text for text in decision.reasons)


def _file(phase_id: str, *issues: tuple[str, Severity, IssueState]) -> PhaseIssueFile:
    return PhaseIssueFile(
        run_id="run-1",
        tier_id="1",
        phase_id=phase_id,
        position=1,
        issues=tuple(
            PhaseIssue(
                issue_key=key,
                severity=severity,
                effective_severity=severity,
                source=IssueSource.AUDITOR,
                category="test",
                first_seen_run="run-1",
                last_seen_run="run-1",
                issue_state=state,
            )
            for key, severity, state in issues
        ),
    )


def test_a_tier_counts_each_open_issue_key_once_at_its_worst_severity() -> None:
    open_, resolved = IssueState.OPEN, IssueState.RESOLVED
    minor, major = Severity.MINOR, Severity.MAJOR
    files = [
        _file("1.1", ("style:a", minor, open_), ("style:b", minor, open_), ("bug:c", minor, open_)),
        _file("1.2", ("style:a", minor, open_), ("style:b", minor, open_), ("bug:c", major, open_)),
        _file("1.3", ("gone:d", major, resolved), ("style:e", minor, open_)),
    ]
    assert distinct_open_counts(files) == (3, 1)
    assert distinct_open_counts(reversed(files)) == (3, 1)
    assert distinct_open_counts([]) == (0, 0)
    # Summing per phase would say 6 minors over a tolerance of 4; the distinct keys are 3.
    tolerance = TierTolerance(minor_issues_tolerated=4, major_issues_tolerated=1)
    assert tier_cleanliness(*distinct_open_counts(files), tolerance) is Cleanliness.CLEAN
