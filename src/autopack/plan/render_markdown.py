"""Write a PlanSpec back as `comprehensive_plan.md`, the form people read and the planner emits."""

from __future__ import annotations

from autopack.domain.plan import PhaseSpec, PlanSpec


def _phase_lines(phase: PhaseSpec) -> list[str]:
    lines = [f"### Phase {phase.id}: {phase.title}"]
    for key in ("category", "complexity", "builder_mode", "builder", "test_changes"):
        value = getattr(phase, key)
        if value is not None:
            lines.append(f"{key}: {value.value}")
    if phase.scope:
        lines.append(f"scope: {', '.join(phase.scope)}")
    if phase.acceptance:
        lines.append(f"acceptance: {'; '.join(phase.acceptance)}")
    if phase.depends_on:
        lines.append(f"depends_on: {', '.join(phase.depends_on)}")
    if phase.description:
        lines += ["", phase.description]
    return [*lines, ""]


def render_markdown(plan: PlanSpec) -> str:
    lines: list[str] = []
    if plan.title:
        lines += [f"# {plan.title}", ""]
    if plan.description:
        lines += [plan.description, ""]
    for tier in plan.tiers:
        lines += [f"## Tier {tier.id}: {tier.name}", ""]
        if tier.description:
            lines += [tier.description, ""]
        for phase in tier.phases:
            lines += _phase_lines(phase)
    return "\n".join(lines)
