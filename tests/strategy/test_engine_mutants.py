"""StrategyEngine edges that mutation testing (bench/mutation.py) found untested: Phase 0's reuse
verdicts, a debt phase in a multi-tier plan, the phase cap's boundary, where plan errors point, and
what a strategy carries over from its inputs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.strategy import Budget, ReuseDecision, Strategy
from autopack.domain.vocabulary import (
    BuilderMode,
    BuilderName,
    IssueSource,
    RunScope,
    SafetyProfile,
    Severity,
    TaskCategory,
)
from autopack.errors import PlanError
from autopack.llm.aliases import default_aliases
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset

SOURCE = "plans/demo.md"


def phase(phase_id: str, tier: str = "1", **fields: object) -> PhaseSpec:
    return PhaseSpec.model_validate(
        {"id": phase_id, "title": f"Phase {phase_id}", "tier_id": tier, **fields}
    )


def plan_of(*tiers: tuple[str, list[PhaseSpec]]) -> PlanSpec:
    return PlanSpec(
        title="Test plan",
        source_path=SOURCE,
        tiers=tuple(TierSpec(id=tid, name=f"Tier {tid}", phases=tuple(ps)) for tid, ps in tiers),
    )


def inputs(plan: PlanSpec, **fields: object) -> StrategyInputs:
    base: dict[str, object] = {
        "run_id": "run-1",
        "project_id": "demo",
        "plan": plan,
        "ruleset": Ruleset(),
        "routing": Routing(),
        "aliases": default_aliases(),
    }
    return StrategyInputs(**{**base, **fields})  # type: ignore[arg-type]


def verdict(phase_id: str, *, reused: bool = True) -> ReuseDecision:
    return ReuseDecision(
        phase_id=phase_id,
        feature_id="auth-jwt",
        feature_name="JWT login",
        source_repo="example/auth",
        path="src/jwt.py",
        licence="MIT",
        quality=80,
        reused=reused,
        reason="proven and licensed",
        token_budget_reduction=Decimal("0.4"),
    )


def test_a_reused_phase_gets_its_reduced_budget_and_says_why() -> None:
    plan = plan_of(("1", [phase("a", category="feature"), phase("b", category="feature")]))
    decisions = (verdict("a"),)
    strategy = compile_strategy(
        inputs(plan, reuse=decisions, stack_profile="python", stack_reason="pyproject.toml")
    )
    reused, other = strategy.phases
    # Medium feature: 500k tokens / $5, kept at 60%.
    assert reused.budget == Budget(tokens=300_000, usd=Decimal("3.0000"))
    assert reused.category_reason == "Phase 0 reuses catalog feature auth-jwt"
    assert reused.reuse == decisions[0]
    assert other.budget == Budget(tokens=500_000, usd=Decimal("5"))
    assert other.reuse is None
    assert strategy.reuse_decisions == decisions
    assert (strategy.stack_profile, strategy.stack_reason) == ("python", "pyproject.toml")


def test_a_feature_phase_kept_is_not_treated_as_reused() -> None:
    plan = plan_of(("1", [phase("a", category="feature"), phase("b", category="feature")]))
    strategy = compile_strategy(inputs(plan, reuse=(verdict("a", reused=False),)))
    assert [p.reuse for p in strategy.phases] == [None, None]
    assert strategy.phases[0].budget == Budget(tokens=500_000, usd=Decimal("5"))


def aged_minor(key: str) -> BacklogEntry:
    return BacklogEntry(
        issue_key=key,
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=3,
        first_seen_run="run-0",
        last_seen_run="run-0",
        paths=("src/a.py",),
    )


def test_a_debt_phase_joins_the_first_tier_and_keeps_every_other_tier() -> None:
    plan = plan_of(("1", [phase("a")]), ("2", [phase("b", "2")]), ("3", [phase("c", "3")]))
    strategy = compile_strategy(inputs(plan, backlog=(aged_minor("lint:x"),)))
    assert [[p.phase_id for p in tier.phases] for tier in strategy.tiers] == [
        ["debt-cleanup", "a"],
        ["b"],
        ["c"],
    ]
    assert strategy.phases[0].resolves == ("lint:x",)


def test_exactly_max_phases_is_allowed_and_one_more_points_at_the_plan() -> None:
    ruleset = Ruleset.model_validate({"run": {"max_phases": 2}})
    assert (
        len(
            compile_strategy(
                inputs(plan_of(("1", [phase("a"), phase("b")])), ruleset=ruleset)
            ).phases
        )
        == 2
    )
    with pytest.raises(PlanError) as caught:
        compile_strategy(
            inputs(plan_of(("1", [phase("a"), phase("b"), phase("c")])), ruleset=ruleset)
        )
    assert caught.value.path == SOURCE


def test_an_unknown_tier_lists_the_plans_tiers_and_points_at_the_plan() -> None:
    plan = plan_of(("1", [phase("a")]), ("2", [phase("b", "2")]))
    with pytest.raises(PlanError) as caught:
        compile_strategy(inputs(plan, tier_id="9"))
    assert caught.value.detail == "no tier '9' in the plan (tiers: 1, 2)"
    assert caught.value.path == SOURCE


def test_single_tier_scope_accepts_a_one_tier_plan_and_points_at_a_longer_one() -> None:
    one = plan_of(("1", [phase("a")]))
    assert len(compile_strategy(inputs(one, run_scope=RunScope.SINGLE_TIER)).tiers) == 1
    two = plan_of(("1", [phase("a")]), ("2", [phase("b", "2")]))
    with pytest.raises(PlanError) as caught:
        compile_strategy(inputs(two, run_scope=RunScope.SINGLE_TIER))
    assert caught.value.path == SOURCE


def test_a_phase_carries_its_plan_text_and_the_rulesets_builder() -> None:
    plan = plan_of(
        (
            "1",
            [
                phase("a", acceptance=["tests pass"], description="Add login."),
                phase("b", depends_on=["a"], builder="codex"),
            ],
        )
    )
    ruleset = Ruleset.model_validate({"builder": "aider"})
    strategy: Strategy = compile_strategy(inputs(plan, ruleset=ruleset))
    first, second = strategy.phases
    assert (first.acceptance, first.description, first.builder) == (
        ("tests pass",),
        "Add login.",
        BuilderName.AIDER,
    )
    assert (second.depends_on, second.builder) == (("a",), BuilderName.CODEX)
    assert strategy.plan_source == SOURCE


def test_a_low_complexity_feature_is_built_as_a_tweak() -> None:
    plan = plan_of(("1", [phase("a", category="feature", complexity="low")]))
    assert compile_strategy(inputs(plan)).phases[0].builder_mode is BuilderMode.TWEAK_LIGHT


def test_a_safety_critical_tier_tolerates_no_major_whatever_the_per_phase_allowance() -> None:
    ruleset = Ruleset.model_validate({"tier": {"major_issues_per_phase_normal": 1}})
    plan = plan_of(("1", [phase("a"), phase("b")]))
    normal = compile_strategy(inputs(plan, ruleset=ruleset)).tiers[0]
    critical = compile_strategy(
        inputs(plan, ruleset=ruleset, safety_profile=SafetyProfile.SAFETY_CRITICAL)
    ).tiers[0]
    assert (normal.major_issues_tolerated, critical.major_issues_tolerated) == (2, 0)


def test_a_debt_phase_is_categorised_debt_cleanup() -> None:
    strategy = compile_strategy(inputs(plan_of(("1", [phase("a")])), backlog=(aged_minor("k"),)))
    assert strategy.phases[0].task_category is TaskCategory.DEBT_CLEANUP
