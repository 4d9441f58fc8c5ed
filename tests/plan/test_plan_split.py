"""Plans bigger than run.max_phases become several runs, cut only between tiers."""

from __future__ import annotations

import pytest

from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.errors import PlanError
from autopack.plan.split_runs import split_plan


def plan_with(*sizes: int) -> PlanSpec:
    tiers = tuple(
        TierSpec(
            id=f"t{t}",
            name=f"Tier {t}",
            phases=tuple(
                PhaseSpec(id=f"t{t}p{p}", title="x", tier_id=f"t{t}") for p in range(size)
            ),
            source_line=t * 10,
        )
        for t, size in enumerate(sizes)
    )
    return PlanSpec(title="Big", tiers=tiers, source_path="big.md")


def test_plan_within_the_cap_is_one_run() -> None:
    plan = plan_with(3, 4)
    assert split_plan(plan, 7) == [plan]


def test_plan_over_the_cap_is_split_between_tiers_in_order() -> None:
    parts = split_plan(plan_with(3, 4, 2, 5), 7)
    assert [[t.id for t in part.tiers] for part in parts] == [["t0", "t1"], ["t2", "t3"]]
    assert [part.title for part in parts] == ["Big (part 1/2)", "Big (part 2/2)"]
    assert all(len(part.phases) <= 7 for part in parts)
    assert [p.id for part in parts for p in part.phases] == [
        p.id for p in plan_with(3, 4, 2, 5).phases
    ]


def test_tier_larger_than_the_cap_is_named() -> None:
    with pytest.raises(PlanError) as caught:
        split_plan(plan_with(2, 9), 5)
    assert "tier 't1' alone has 9 phases" in str(caught.value)
    assert caught.value.line == 10
