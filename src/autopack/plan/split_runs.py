"""A plan with more phases than `run.max_phases` becomes several runs, split between tiers."""

from __future__ import annotations

from autopack.domain.plan import PlanSpec, TierSpec
from autopack.errors import PlanError


def split_plan(plan: PlanSpec, max_phases: int) -> list[PlanSpec]:
    """Consecutive tiers packed greedily into runs of at most `max_phases`; tiers are never cut.

    Later runs may depend on phases of earlier ones: runs are listed in the order they must run.
    """
    if len(plan.phases) <= max_phases:
        return [plan]
    groups: list[list[TierSpec]] = [[]]
    for tier in plan.tiers:
        if len(tier.phases) > max_phases:
            raise PlanError(
                f"tier {tier.id!r} alone has {len(tier.phases)} phases, more than run.max_phases "
                f"{max_phases}; split the tier or raise the cap",
                path=plan.source_path,
                line=tier.source_line,
            )
        if sum(len(t.phases) for t in groups[-1]) + len(tier.phases) > max_phases:
            groups.append([])
        groups[-1].append(tier)
    count = len(groups)
    return [
        plan.model_copy(
            update={
                "title": f"{plan.title or 'plan'} (part {index}/{count})",
                "tiers": tuple(group),
            }
        )
        for index, group in enumerate(groups, start=1)
    ]
