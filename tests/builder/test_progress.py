"""Each no-progress pattern stops an attempt with its own name; ordinary work does not."""

from __future__ import annotations

import pytest

from autopack.builder.progress import (
    ProgressLimits,
    ProgressMonitor,
    Stuck,
    fingerprint,
    repeated_attempt,
)


def _feed(monitor: ProgressMonitor, steps: list[tuple[str, str, str, bool, object]]) -> None:
    for action, arguments, observation, failed, state in steps:
        monitor.observe(action, arguments, observation, failed_edit=failed, state=state)


def _pattern(steps: list[tuple[str, str, str, bool, object]], limits: ProgressLimits) -> str:
    with pytest.raises(Stuck) as stuck:
        _feed(ProgressMonitor(limits), steps)
    return stuck.value.pattern


def test_the_same_action_and_result_repeated() -> None:
    read = ("read_file", '{"path": "a.py"}', "1│x", False, "s")
    assert _pattern([read] * 3, ProgressLimits(repeats=3)) == "repeated_action"
    # The same action with a new result each time is not a repeat.
    _feed(
        ProgressMonitor(ProgressLimits(repeats=3)),
        [("run_command", "pytest", f"run {n}", False, n) for n in range(6)],
    )


def test_two_actions_alternating() -> None:
    a = ("read_file", "a.py", "A", False, "s")
    b = ("read_file", "b.py", "B", False, "s")
    assert _pattern([a, b] * 3, ProgressLimits(alternations=3, stale_steps=99)) == (
        "alternating_actions"
    )
    _feed(ProgressMonitor(ProgressLimits(alternations=3)), [a, b, a, b, a])


def test_edits_failing_in_a_row() -> None:
    steps = [("edit", f"try {n}", f"did not apply {n}", True, "s") for n in range(4)]
    assert _pattern(steps, ProgressLimits(failed_edits=4)) == "failing_edits"
    # A success in between resets the count.
    ok = ("edit", "good", "applied", False, "s2")
    _feed(ProgressMonitor(ProgressLimits(failed_edits=4)), [*steps[:3], ok, *steps[:3]])


def test_no_change_to_diff_or_tests_over_many_steps() -> None:
    steps = [("read_file", f"f{n}.py", f"text {n}", False, ("diff-1", ())) for n in range(6)]
    assert _pattern(steps, ProgressLimits(stale_steps=5)) == "no_change"
    moving = [("edit", f"e{n}", "applied", False, (f"diff-{n}", ())) for n in range(10)]
    _feed(ProgressMonitor(ProgressLimits(stale_steps=5)), moving)


def test_an_attempt_ending_like_an_earlier_one_is_named() -> None:
    first = fingerprint("diff --git a/x b/x\n+1\n", ["test:a", "test:b"])
    second = fingerprint("diff --git a/x b/x\n+2\n", ["test:a"])
    same_as_first = fingerprint("diff --git a/x b/x\n+1\n", ["test:b", "test:a"])
    assert repeated_attempt([first], second) is None
    reason = repeated_attempt([first, second], same_as_first)
    assert reason == "attempt ended with the same diff and the same 2 failing checks as attempt 1"
