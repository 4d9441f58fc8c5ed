"""Progress events: typed when emitted, stored as kind + JSON fields, read back as one line."""

from __future__ import annotations

from typing import Any

import pytest

from autopack.run.events import (
    AttemptStep,
    Built,
    Committed,
    IssuesRecorded,
    Rejected,
    RunStarted,
    Verified,
    describe,
)


def _message(event: Any, **extra: Any) -> dict[str, Any]:
    return {**event.details(), "kind": event.kind, "run_id": "run-1", "id": 7, **extra}


def test_the_stored_payload_is_every_field_but_the_kind() -> None:
    event = Committed(phase="1.1", attempt=2, commit="a" * 40, needs_approval=True)
    assert event.details() == {
        "phase": "1.1",
        "attempt": 2,
        "commit": "a" * 40,
        "needs_approval": True,
    }


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (RunStarted(phases=4), "run run-1: 4 phases"),
        (
            AttemptStep(phase="1.1", attempt=2, step="build", model="openai-fast"),
            "    1.1 attempt 2: build with openai-fast",
        ),
        (
            AttemptStep(phase="2.1", attempt=1, step="audit", reason="high-risk category x"),
            "    2.1 attempt 1: audit (high-risk category x)",
        ),
        (
            Built(
                phase="1.1",
                attempt=1,
                stop="finished",
                files=2,
                tokens=6260,
                usd="0.0146",
                run_tokens=6260,
                run_usd="0.0146",
                budget_tokens=5_000_000,
                budget_usd="50",
            ),
            "    1.1 attempt 1: Builder finished, 2 file(s), 6,260 tokens, $0.0146 "
            "(run: 6,260 of 5,000,000 tokens, $0.0146 of $50.00)",
        ),
        (
            Verified(phase="1.1", attempt=1, passed=False, failures=1, pre_existing=0, seconds=1),
            "    1.1 checks FAILED",
        ),
        (
            IssuesRecorded(phase="1.1", raised=["ci:tests"], merged=["docs:x"]),
            "    1.1 issues: 1 raised (ci:tests), 1 seen again",
        ),
        (
            Rejected(phase="1.1", attempt=3, why="checks failed: ci:tests", last=True),
            "    1.1 rejected: checks failed: ci:tests (no attempts left)",
        ),
        (
            Committed(phase="2.1", attempt=1, commit="0123456789abcdef", needs_approval=True),
            "    2.1 committed 0123456789ab (awaits approval before promotion)",
        ),
    ],
)
def test_each_event_reads_as_its_line(event: Any, line: str) -> None:
    assert describe(_message(event)) == line


def test_an_unknown_kind_or_a_malformed_event_has_no_line() -> None:
    assert describe({"kind": "heartbeat", "run_id": "run-1", "id": 1}) is None
    assert describe({"kind": "committed", "phase": "1.1", "run_id": "run-1", "id": 1}) is None
    assert describe({"run_id": "run-1"}) is None
