"""Plan-wide rules every format obeys: unique ids, non-empty tiers, dependencies that can be met."""

from __future__ import annotations

from autopack.domain.plan import PhaseSpec, PlanSpec
from autopack.errors import PlanError


def _where(phase: PhaseSpec) -> str:
    return f"line {phase.source_line}" if phase.source_line is not None else f"phase {phase.id}"


def validate_plan(plan: PlanSpec) -> PlanSpec:
    """Raise PlanError for the first broken rule; return the plan unchanged when it holds."""
    path = plan.source_path
    if not plan.tiers:
        raise PlanError(
            "the plan has no tiers (expected '## Tier <id>: <name>' headings)", path=path
        )
    seen_tiers: dict[str, int | None] = {}
    for tier in plan.tiers:
        if tier.id in seen_tiers:
            first = seen_tiers[tier.id]
            raise PlanError(
                f"duplicate tier id {tier.id!r}" + (f" (first at line {first})" if first else ""),
                path=path,
                line=tier.source_line,
            )
        seen_tiers[tier.id] = tier.source_line
        if not tier.phases:
            raise PlanError(f"tier {tier.id!r} has no phases", path=path, line=tier.source_line)
    tier_order = {tier.id: index for index, tier in enumerate(plan.tiers)}
    phases: dict[str, PhaseSpec] = {}
    for phase in plan.phases:
        if phase.id in phases:
            raise PlanError(
                f"duplicate phase id {phase.id!r} (first at {_where(phases[phase.id])})",
                path=path,
                line=phase.source_line,
            )
        phases[phase.id] = phase
    position = {phase.id: number for number, phase in enumerate(plan.phases)}
    for phase in plan.phases:
        for dependency in phase.depends_on:
            target = phases.get(dependency)
            if target is None:
                raise PlanError(
                    f"phase {phase.id!r} depends on unknown phase {dependency!r}",
                    path=path,
                    line=phase.source_line,
                )
            if dependency == phase.id:
                raise PlanError(
                    f"phase {phase.id!r} depends on itself", path=path, line=phase.source_line
                )
            if tier_order[target.tier_id] > tier_order[phase.tier_id]:
                raise PlanError(
                    f"phase {phase.id!r} in tier {phase.tier_id!r} depends on {dependency!r} "
                    f"in the later tier {target.tier_id!r}",
                    path=path,
                    line=phase.source_line,
                )
            # Phases run in plan order: a dependency written after its dependant would run late.
            if position[dependency] > position[phase.id]:
                raise PlanError(
                    f"phase {phase.id!r} depends on {dependency!r}, which comes after it in the "
                    f"plan; phases run in plan order, so move {dependency!r} before {phase.id!r}",
                    path=path,
                    line=phase.source_line,
                )
    return plan
