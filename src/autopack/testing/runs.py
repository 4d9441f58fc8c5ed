"""Small runs for tests: a blueprint of two tiers and three phases, stored as a real run would be."""

from __future__ import annotations

from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import (
    BuilderMode,
    Complexity,
    RunScope,
    SafetyProfile,
    TaskCategory,
)
from autopack.llm.aliases import default_aliases
from autopack.store.runs import NewPhase, NewTier, RunBlueprint
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset


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


def phase_strategy(
    title: str = "Add a greeting",
    *,
    description: str = "",
    category: TaskCategory | None = None,
    builder_mode: BuilderMode | None = None,
    scope: tuple[str, ...] = (),
    acceptance: tuple[str, ...] = (),
) -> PhaseStrategy:
    """One phase as the real StrategyEngine compiles it under the default ruleset and routing."""
    plan = PlanSpec(
        title="Test plan",
        tiers=(
            TierSpec(
                id="1",
                name="Tier 1",
                phases=(
                    PhaseSpec(
                        id="p1",
                        title=title,
                        tier_id="1",
                        category=category,
                        builder_mode=builder_mode,
                        scope=scope,
                        acceptance=acceptance,
                        description=description,
                    ),
                ),
            ),
        ),
    )
    strategy = compile_strategy(
        StrategyInputs(
            run_id="run-1",
            project_id="demo",
            plan=plan,
            ruleset=Ruleset(),
            routing=Routing(),
            aliases=default_aliases(),
            backlog=[],
            safety_profile=None,
            run_scope=RunScope.MULTI_TIER,
            tier_id=None,
        )
    )
    return strategy.phases[0]
