"""The StrategyEngine: ruleset + plan + backlog + safety profile -> one frozen Strategy per run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.strategy import (
    Budget,
    PhaseStrategy,
    ReuseDecision,
    RunLimits,
    Strategy,
    TierStrategy,
)
from autopack.domain.vocabulary import (
    HIGH_RISK_CATEGORIES,
    CIProfile,
    RunScope,
    SafetyProfile,
    Severity,
    TestChanges,
)
from autopack.errors import PlanError
from autopack.llm.aliases import ModelAlias
from autopack.store.model_figures import ModelHistory
from autopack.strategy.classify import (
    auditor_profile_for,
    classify_phase,
    decide_builder_mode,
    decide_complexity,
)
from autopack.strategy.debt import debt_cleanup_phase
from autopack.strategy.learned_routing import route_phase
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset


@dataclass(frozen=True)
class StrategyInputs:
    run_id: str
    project_id: str
    plan: PlanSpec
    ruleset: Ruleset
    routing: Routing
    aliases: dict[str, ModelAlias]
    backlog: Sequence[BacklogEntry] = ()
    safety_profile: SafetyProfile | None = None
    run_scope: RunScope = RunScope.MULTI_TIER
    tier_id: str | None = None
    # Phase 0's findings; a reused phase arrives already categorised external_feature_reuse.
    stack_profile: str | None = None
    stack_reason: str = ""
    reuse: tuple[ReuseDecision, ...] = ()
    # The project's record of each alias (store/model_figures.py), read by [routing] policy learned.
    history: ModelHistory | None = None

    def reused(self, phase_id: str) -> ReuseDecision | None:
        return next((d for d in self.reuse if d.phase_id == phase_id and d.reused), None)


def compile_strategy(inputs: StrategyInputs) -> Strategy:
    ruleset = inputs.ruleset
    safety = inputs.safety_profile or ruleset.safety_profile
    tiers = _tiers_in_scope(inputs.plan, inputs.run_scope, inputs.tier_id)
    debt = debt_cleanup_phase(
        inputs.backlog, tiers[0], taken={p.id for t in tiers for p in t.phases}
    )
    if debt is not None:
        first = tiers[0].model_copy(update={"phases": (debt.phase, *tiers[0].phases)})
        tiers = (first, *tiers[1:])
    phase_count = sum(len(tier.phases) for tier in tiers)
    if phase_count > ruleset.run.max_phases:
        raise PlanError(
            f"the run would have {phase_count} phases, more than run.max_phases "
            f"{ruleset.run.max_phases}; split the plan into several runs",
            path=inputs.plan.source_path,
        )
    position = 0
    tier_strategies = []
    for tier in tiers:
        phases = []
        for phase in tier.phases:
            position += 1
            compiled = _phase_strategy(phase, position, inputs, safety)
            if debt is not None and phase is debt.phase:
                compiled = compiled.model_copy(
                    update={"inserted_reason": debt.reason, "resolves": debt.issue_keys}
                )
            phases.append(compiled)
        tier_strategies.append(_tier_strategy(tier, tuple(phases), ruleset, safety))
    used_aliases = sorted({a for t in tier_strategies for p in t.phases for a in p.models.values()})
    return Strategy(
        run_id=inputs.run_id,
        project_id=inputs.project_id,
        plan_title=inputs.plan.title,
        plan_source=inputs.plan.source_path,
        safety_profile=safety,
        run_scope=inputs.run_scope,
        limits=RunLimits(
            budget=Budget(tokens=ruleset.run.token_cap, usd=ruleset.run.usd_cap),
            max_phases=ruleset.run.max_phases,
            max_duration_minutes=ruleset.run.max_duration_minutes,
            max_minor_issues_total=phase_count * ruleset.run.minor_issues_per_phase,
            max_parallel_phases=ruleset.run.max_parallel_phases,
        ),
        tiers=tuple(tier_strategies),
        model_aliases={
            alias: f"{inputs.aliases[alias].provider}:{inputs.aliases[alias].model}"
            for alias in used_aliases
        },
        backlog_keys_considered=tuple(sorted(entry.issue_key for entry in inputs.backlog)),
        stack_profile=inputs.stack_profile,
        stack_reason=inputs.stack_reason,
        reuse_decisions=inputs.reuse,
    )


def _tiers_in_scope(plan: PlanSpec, scope: RunScope, tier_id: str | None) -> tuple[TierSpec, ...]:
    if tier_id is not None:
        chosen = tuple(tier for tier in plan.tiers if tier.id == tier_id)
        if not chosen:
            known = ", ".join(tier.id for tier in plan.tiers)
            raise PlanError(
                f"no tier {tier_id!r} in the plan (tiers: {known})", path=plan.source_path
            )
        return chosen
    if scope is RunScope.SINGLE_TIER and len(plan.tiers) > 1:
        raise PlanError(
            f"run scope single_tier needs one tier but the plan has {len(plan.tiers)}; choose one",
            path=plan.source_path,
        )
    return plan.tiers


def _phase_strategy(
    phase: PhaseSpec,
    position: int,
    inputs: StrategyInputs,
    safety: SafetyProfile,
) -> PhaseStrategy:
    ruleset = inputs.ruleset
    category = classify_phase(phase)
    complexity = decide_complexity(phase, category.value)
    mode = decide_builder_mode(phase, category.value, complexity.value)
    high_risk = category.value in HIGH_RISK_CATEGORIES
    by_complexity = ruleset.complexity[complexity.value]
    mode_rule = ruleset.modes[mode.value]
    budget = Budget(
        tokens=min(by_complexity.token_cap, mode_rule.token_cap), usd=by_complexity.usd_cap
    )
    max_builder_attempts = mode_rule.max_builder_attempts
    max_auditor_attempts = ruleset.max_auditor_attempts
    incident = budget
    if high_risk:
        rule = ruleset.high_risk[category.value]
        max_builder_attempts = rule.max_builder_attempts
        max_auditor_attempts = rule.max_auditor_attempts
        incident = Budget(tokens=rule.incident_token_cap, usd=rule.incident_usd_cap)
    reuse = inputs.reused(phase.id)
    category_reason = category.reason
    if reuse is not None:
        category_reason = f"Phase 0 reuses catalog feature {reuse.feature_id}"
        budget = _reduced(budget, reuse.token_budget_reduction)
    strict = high_risk or safety is SafetyProfile.SAFETY_CRITICAL
    routes = route_phase(
        inputs.routing,
        category.value,
        complexity.value,
        high_risk=high_risk,
        history=inputs.history,
        known_aliases=frozenset(inputs.aliases),
    )
    return PhaseStrategy(
        phase_id=phase.id,
        tier_id=phase.tier_id,
        title=phase.title,
        position=position,
        task_category=category.value,
        category_reason=category_reason,
        complexity=complexity.value,
        complexity_reason=complexity.reason,
        builder_mode=mode.value,
        builder_mode_reason=mode.reason,
        builder=phase.builder or ruleset.builder,
        test_changes=phase.test_changes or TestChanges.GUARDED,
        high_risk=high_risk,
        default_severity=Severity.MAJOR if high_risk else Severity.MINOR,
        budget=budget,
        incident_budget=incident,
        max_builder_attempts=max_builder_attempts,
        max_auditor_attempts=max_auditor_attempts,
        ci_profile=CIProfile.STRICT if strict else CIProfile.NORMAL,
        auditor_profile=auditor_profile_for(category.value),
        auto_apply=not high_risk or ruleset.allow_auto_apply_high_risk,
        models={role: route.alias for role, route in routes.items()},
        routes=routes,
        scope=phase.scope,
        acceptance=phase.acceptance,
        depends_on=phase.depends_on,
        description=phase.description,
        reuse=reuse,
    )


def _reduced(budget: Budget, share: Decimal) -> Budget:
    keep = 1 - share
    return Budget(
        tokens=int(budget.tokens * keep), usd=(budget.usd * keep).quantize(Decimal("0.0001"))
    )


def _tier_strategy(
    tier: TierSpec, phases: tuple[PhaseStrategy, ...], ruleset: Ruleset, safety: SafetyProfile
) -> TierStrategy:
    rules = ruleset.tier
    count = len(phases)
    critical = safety is SafetyProfile.SAFETY_CRITICAL
    minor_per_phase = (
        rules.minor_issues_per_phase_safety_critical
        if critical
        else rules.minor_issues_per_phase_normal
    )
    return TierStrategy(
        tier_id=tier.id,
        name=tier.name,
        budget=Budget(
            tokens=rules.token_cap_factor * sum(p.incident_budget.tokens for p in phases),
            usd=rules.usd_cap_factor * sum((p.incident_budget.usd for p in phases), Decimal(0)),
        ),
        ci_run_cap=rules.ci_runs_per_phase * count,
        minor_issues_tolerated=minor_per_phase * count,
        major_issues_tolerated=(
            rules.major_issues_safety_critical
            if critical
            else rules.major_issues_per_phase_normal * count
        ),
        phases=phases,
    )
