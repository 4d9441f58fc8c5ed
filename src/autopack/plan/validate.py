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
    _refuse_cycles(plan, phases)
    return plan


def _refuse_cycles(plan: PlanSpec, phases: dict[str, PhaseSpec]) -> None:
    state: dict[str, str] = {}

    def visit(phase_id: str, trail: list[str]) -> None:
        if state.get(phase_id) == "done":
            return
        if state.get(phase_id) == "open":
            cycle = [*trail[trail.index(phase_id) :], phase_id]
            raise PlanError(
                f"dependency cycle: {' -> '.join(cycle)}",
                path=plan.source_path,
                line=phases[phase_id].source_line,
            )
        state[phase_id] = "open"
        for dependency in phases[phase_id].depends_on:
            visit(dependency, [*trail, phase_id])
        state[phase_id] = "done"

    for phase_id in phases:
        visit(phase_id, [])
