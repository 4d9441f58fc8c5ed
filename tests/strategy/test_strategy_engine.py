"""The StrategyEngine turns plan, ruleset, backlog and safety profile into the documented budgets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.strategy import Strategy
from autopack.domain.vocabulary import (
    HIGH_RISK_CATEGORIES,
    AuditorProfile,
    BuilderMode,
    CIProfile,
    Complexity,
    IssueSource,
    Role,
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


def phase(phase_id: str, tier: str = "1", **fields: object) -> PhaseSpec:
    return PhaseSpec.model_validate(
        {"id": phase_id, "title": f"Phase {phase_id}", "tier_id": tier, **fields}
    )


def plan_of(*tiers: tuple[str, list[PhaseSpec]]) -> PlanSpec:
    return PlanSpec(
        title="Test plan",
        tiers=tuple(TierSpec(id=tid, name=f"Tier {tid}", phases=tuple(ps)) for tid, ps in tiers),
    )


def compile_for(
    plan: PlanSpec,
    ruleset: Ruleset | None = None,
    *,
    backlog: list[BacklogEntry] | None = None,
    safety: SafetyProfile | None = None,
    scope: RunScope = RunScope.MULTI_TIER,
    tier_id: str | None = None,
) -> Strategy:
    return compile_strategy(
        StrategyInputs(
            run_id="run-1",
            project_id="demo",
            plan=plan,
            ruleset=ruleset or Ruleset(),
            routing=Routing(),
            aliases=default_aliases(),
            backlog=backlog or [],
            safety_profile=safety,
            run_scope=scope,
            tier_id=tier_id,
        )
    )


def test_run_limits_follow_the_playbook_defaults() -> None:
    strategy = compile_for(plan_of(("1", [phase("a"), phase("b")]), ("2", [phase("c", "2")])))
    assert strategy.limits.budget.tokens == 5_000_000
    assert strategy.limits.budget.usd == Decimal("50")
    assert strategy.limits.max_phases == 25
    assert strategy.limits.max_duration_minutes == 120
    assert strategy.limits.max_minor_issues_total == 3 * 3


@pytest.mark.parametrize(
    ("complexity", "mode", "tokens"),
    [
        (Complexity.LOW, BuilderMode.SCAFFOLDING_HEAVY, 200_000),
        (Complexity.MEDIUM, BuilderMode.SCAFFOLDING_HEAVY, 500_000),
        (Complexity.HIGH, BuilderMode.REFACTOR_HEAVY, 1_000_000),
        # The mode caps too: a light tweak never gets a high phase's budget.
        (Complexity.HIGH, BuilderMode.TWEAK_LIGHT, 200_000),
    ],
)
def test_phase_token_cap_is_the_lower_of_complexity_and_mode(
    complexity: Complexity, mode: BuilderMode, tokens: int
) -> None:
    strategy = compile_for(
        plan_of(("1", [phase("a", category="feature", complexity=complexity, builder_mode=mode)]))
    )
    assert strategy.phases[0].budget.tokens == tokens


@pytest.mark.parametrize("category", sorted(HIGH_RISK_CATEGORIES))
def test_high_risk_categories_get_the_strict_treatment(category: TaskCategory) -> None:
    strategy = compile_for(plan_of(("1", [phase("a", category=category, complexity="low")])))
    decided = strategy.phases[0]
    assert decided.high_risk
    assert decided.default_severity is Severity.MAJOR
    assert decided.complexity is Complexity.HIGH
    assert decided.ci_profile is CIProfile.STRICT
    assert 1 <= decided.max_builder_attempts <= 2
    assert 2 <= decided.max_auditor_attempts <= 3
    assert 800_000 <= decided.incident_budget.tokens <= 1_500_000
    assert decided.auto_apply is False
    assert set(decided.models.values()) == {Routing().top}


def test_ruleset_can_allow_auto_apply_of_high_risk_phases() -> None:
    ruleset = Ruleset.model_validate({"allow_auto_apply_high_risk": True})
    strategy = compile_for(plan_of(("1", [phase("a", category="security_auth_change")])), ruleset)
    assert strategy.phases[0].auto_apply is True


def test_ordinary_phase_is_minor_normal_ci_and_auto_applied() -> None:
    strategy = compile_for(plan_of(("1", [phase("a", category="feature", complexity="low")])))
    decided = strategy.phases[0]
    assert (decided.high_risk, decided.default_severity) == (False, Severity.MINOR)
    assert decided.ci_profile is CIProfile.NORMAL
    assert decided.auto_apply is True
    assert decided.incident_budget == decided.budget
    assert decided.models[Role.BUILDER] == "anthropic-standard"
    assert decided.models[Role.AUDITOR] == "anthropic-fast"


def test_safety_critical_makes_every_phase_strict() -> None:
    strategy = compile_for(
        plan_of(("1", [phase("a", category="docs")])), safety=SafetyProfile.SAFETY_CRITICAL
    )
    assert strategy.phases[0].ci_profile is CIProfile.STRICT
    assert strategy.safety_profile is SafetyProfile.SAFETY_CRITICAL


def test_tier_budgets_derive_from_their_phases() -> None:
    phases = [
        phase("a", category="feature", complexity="medium"),
        phase("b", category="security_auth_change"),
    ]
    tier = compile_for(plan_of(("1", phases))).tiers[0]
    incident_sum = 500_000 + 1_000_000
    assert tier.budget.tokens == 3 * incident_sum
    assert tier.budget.usd == 3 * (Decimal("5") + Decimal("10"))
    assert tier.ci_run_cap == 2 * 2
    assert tier.minor_issues_tolerated == 2 * 2
    # The playbook tolerates no open major in a clean tier; a ruleset may allow some per phase.
    assert tier.major_issues_tolerated == 0
    lenient = Ruleset.model_validate({"tier": {"major_issues_per_phase_normal": 1}})
    assert compile_for(plan_of(("1", phases)), lenient).tiers[0].major_issues_tolerated == 2


def test_safety_critical_tier_tolerates_fewer_minors_and_no_majors() -> None:
    tier = compile_for(
        plan_of(("1", [phase("a"), phase("b"), phase("c")])), safety=SafetyProfile.SAFETY_CRITICAL
    ).tiers[0]
    assert tier.minor_issues_tolerated == 3
    assert tier.major_issues_tolerated == 0


@pytest.mark.parametrize(
    ("mode", "attempts"),
    [
        (BuilderMode.TWEAK_LIGHT, 3),
        (BuilderMode.SCAFFOLDING_HEAVY, 2),
        (BuilderMode.REFACTOR_HEAVY, 2),
        (BuilderMode.SCHEMA_HEAVY, 2),
    ],
)
def test_builder_mode_sets_attempt_cap(mode: BuilderMode, attempts: int) -> None:
    strategy = compile_for(plan_of(("1", [phase("a", category="feature", builder_mode=mode)])))
    assert strategy.phases[0].max_builder_attempts == attempts


@pytest.mark.parametrize(
    ("category", "profile"),
    [
        (TaskCategory.SECURITY_AUTH_CHANGE, AuditorProfile.SECURITY_REVIEW),
        (TaskCategory.SCHEMA_CONTRACT_CHANGE, AuditorProfile.SCHEMA_REVIEW),
        (TaskCategory.CROSS_CUTTING_REFACTOR, AuditorProfile.ORCHESTRATOR_REVIEW),
        (TaskCategory.DEBT_CLEANUP, AuditorProfile.DEBT_CLEANUP_REVIEW),
        (TaskCategory.FEATURE, AuditorProfile.GENERAL),
    ],
)
def test_auditor_profile_follows_category(category: TaskCategory, profile: AuditorProfile) -> None:
    strategy = compile_for(plan_of(("1", [phase("a", category=category)])))
    assert strategy.phases[0].auditor_profile is profile


def test_unclassified_phase_records_why_it_got_its_category() -> None:
    strategy = compile_for(plan_of(("1", [phase("a", scope=["app/migrations/0002_add.py"])])))
    decided = strategy.phases[0]
    assert decided.task_category is TaskCategory.SCHEMA_CONTRACT_CHANGE
    assert "app/migrations/0002_add.py" in decided.category_reason
    assert decided.builder_mode is BuilderMode.SCHEMA_HEAVY


def test_ruleset_overrides_reach_the_strategy() -> None:
    ruleset = Ruleset.model_validate(
        {"run": {"token_cap": 1_000, "max_phases": 3}, "complexity": {"low": {"token_cap": 123}}}
    )
    strategy = compile_for(plan_of(("1", [phase("a", category="docs")])), ruleset)
    assert strategy.limits.budget.tokens == 1_000
    assert strategy.phases[0].budget.tokens == 123
    # The other complexities keep their defaults.
    assert ruleset.complexity[Complexity.MEDIUM].token_cap == 500_000


def test_more_phases_than_the_cap_is_refused() -> None:
    ruleset = Ruleset.model_validate({"run": {"max_phases": 2}})
    with pytest.raises(PlanError, match=r"3 phases, more than run\.max_phases 2"):
        compile_for(plan_of(("1", [phase("a"), phase("b"), phase("c")])), ruleset)


def test_single_tier_scope_needs_one_tier() -> None:
    plan = plan_of(("1", [phase("a")]), ("2", [phase("b", "2")]))
    with pytest.raises(PlanError, match="single_tier"):
        compile_for(plan, scope=RunScope.SINGLE_TIER)
    chosen = compile_for(plan, scope=RunScope.SINGLE_TIER, tier_id="2")
    assert [p.phase_id for p in chosen.phases] == ["b"]


def test_unknown_tier_is_named() -> None:
    with pytest.raises(PlanError, match="no tier 'x'"):
        compile_for(plan_of(("1", [phase("a")])), tier_id="x")


def backlog_entry(
    key: str, severity: Severity, effective: Severity, paths: tuple[str, ...]
) -> BacklogEntry:
    return BacklogEntry(
        issue_key=key,
        severity=severity,
        effective_severity=effective,
        category="style",
        source=IssueSource.AUDITOR,
        age_in_runs=3,
        age_in_tiers=2,
        first_seen_run="run-0",
        last_seen_run="run-0",
        paths=paths,
    )


def test_aged_backlog_minors_insert_a_debt_cleanup_phase_first() -> None:
    backlog = [
        backlog_entry("lint:unused-import", Severity.MINOR, Severity.MAJOR, ("src/a.py",)),
        backlog_entry("lint:long-line", Severity.MINOR, Severity.MINOR, ("src/b.py",)),
    ]
    strategy = compile_for(plan_of(("1", [phase("a")])), backlog=backlog)
    first = strategy.phases[0]
    assert first.phase_id == "debt-cleanup"
    assert first.task_category is TaskCategory.DEBT_CLEANUP
    assert first.scope == ("src/a.py",)
    assert first.inserted_reason is not None
    assert "lint:unused-import" in first.inserted_reason
    assert "lint:long-line" not in first.inserted_reason
    assert [p.position for p in strategy.phases] == [1, 2]
    assert strategy.backlog_keys_considered == ("lint:long-line", "lint:unused-import")


def test_backlog_without_aged_minors_adds_no_phase() -> None:
    backlog = [backlog_entry("x", Severity.MINOR, Severity.MINOR, ())]
    assert [
        p.phase_id for p in compile_for(plan_of(("1", [phase("a")])), backlog=backlog).phases
    ] == ["a"]


def test_strategy_is_frozen_and_round_trips_through_json() -> None:
    strategy = compile_for(
        plan_of(("1", [phase("a"), phase("b", category="security_auth_change")]))
    )
    with pytest.raises(ValidationError):
        strategy.run_id = "other"  # type: ignore[misc]
    assert Strategy.model_validate_json(strategy.model_dump_json()) == strategy
    assert strategy.model_aliases["anthropic-top"] == "anthropic:claude-opus-5-5"
