"""The debt_cleanup phase as the Builder and strategy.json see it; written for mutation testing
(bench/mutation.py), which found its text, its ordering and its id suffixes untested."""

from __future__ import annotations

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, TierSpec
from autopack.domain.vocabulary import IssueSource, Severity, TaskCategory
from autopack.strategy.debt import debt_cleanup_phase

TIER = TierSpec(id="1", name="Core", phases=(PhaseSpec(id="1.1", title="Build", tier_id="1"),))


def aged(key: str, path: str, summary: str = "") -> BacklogEntry:
    return BacklogEntry(
        issue_key=key,
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=3,
        first_seen_run="run-1",
        last_seen_run="run-3",
        paths=(path,),
        summary=summary,
    )


def test_the_debt_phase_lists_its_issues_by_key_and_scopes_their_paths() -> None:
    backlog = [
        aged("lint:z", "src/z.py", "unused import"),
        aged("lint:a", "src/a.py"),
        aged("lint:m", "src/a.py", "shadowed name"),
    ]
    debt = debt_cleanup_phase(backlog, TIER, taken={"1.1"})
    assert debt is not None
    assert debt.phase == PhaseSpec(
        id="debt-cleanup",
        title="Pay down aged issues from the project backlog",
        tier_id="1",
        category=TaskCategory.DEBT_CLEANUP,
        scope=("src/a.py", "src/z.py"),
        # An issue without a summary is described by its category.
        description="Resolve these issues, which aged into effective majors:\n"
        "- lint:a: lint\n- lint:m: shadowed name\n- lint:z: unused import",
    )
    assert debt.issue_keys == ("lint:a", "lint:m", "lint:z")
    assert debt.reason == (
        "backlog has 3 aged issue(s) now effectively major: lint:a, lint:m, lint:z"
    )


def test_a_taken_debt_phase_id_gets_the_next_free_number_from_two() -> None:
    backlog = [aged("lint:a", "src/a.py")]
    assert debt_cleanup_phase(backlog, TIER, taken={"debt-cleanup"}) is not None
    ids = [
        debt.phase.id
        for taken in (
            {"debt-cleanup"},
            {"debt-cleanup", "debt-cleanup-2"},
            {"debt-cleanup", "debt-cleanup-2", "debt-cleanup-3"},
        )
        if (debt := debt_cleanup_phase(backlog, TIER, taken=taken)) is not None
    ]
    assert ids == ["debt-cleanup-2", "debt-cleanup-3", "debt-cleanup-4"]
