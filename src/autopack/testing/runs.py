"""Small runs for tests: a blueprint of two tiers and three phases, stored as a real run would be."""

from __future__ import annotations

from autopack.domain.vocabulary import (
    BuilderMode,
    Complexity,
    RunScope,
    SafetyProfile,
    TaskCategory,
)
from autopack.store.runs import NewPhase, NewTier, RunBlueprint


def blueprint(run_id: str = "run-1") -> RunBlueprint:
    """Tier 1 with phases a and b, tier 2 with phase c, in project `demo`."""

    def phase(phase_id: str) -> NewPhase:
        return NewPhase(
            phase_id=phase_id,
            title=f"Phase {phase_id}",
            task_category=TaskCategory.FEATURE,
            complexity=Complexity.MEDIUM,
            builder_mode=BuilderMode.SCAFFOLDING_HEAVY,
        )

    return RunBlueprint(
        run_id=run_id,
        project_id="demo",
        plan_path="plan.md",
        plan_title="Demo",
        safety_profile=SafetyProfile.NORMAL,
        run_scope=RunScope.MULTI_TIER,
        strategy_json="{}",
        tiers=[
            NewTier(tier_id="1", name="One", phases=[phase("a"), phase("b")]),
            NewTier(tier_id="2", name="Two", phases=[phase("c")]),
        ],
    )
