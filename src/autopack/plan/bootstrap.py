"""Phase 0 (PLAN_BOOTSTRAP): resolve the stack and decide, per phase, whether to reuse a catalog feature.

A phase that asks for a catalog feature becomes an `external_feature_reuse` phase — high risk,
strict CI, always audited — whose token budget the strategy then cuts by the configured share.
Every match is recorded with why it was or was not reused, so strategy.json explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from autopack.domain.plan import PhaseSpec, PlanSpec
from autopack.domain.strategy import ReuseDecision
from autopack.domain.vocabulary import TaskCategory
from autopack.plan.catalogs import (
    FeatureCatalog,
    FeatureMatch,
    StackProfile,
    load_feature_catalog,
    load_stack_profiles,
    match_features,
    resolve_stack,
)
from autopack.strategy.ruleset import ReuseRules


@dataclass(frozen=True)
class Bootstrap:
    """The plan as the strategy should see it, and what Phase 0 decided on the way."""

    plan: PlanSpec
    stack_profile: str | None
    stack_reason: str
    reuse: tuple[ReuseDecision, ...]

    def decision_for(self, phase_id: str) -> ReuseDecision | None:
        return next((d for d in self.reuse if d.phase_id == phase_id and d.reused), None)


def bootstrap_plan(plan: PlanSpec, repo_root: Path, rules: ReuseRules) -> Bootstrap:
    """Stack profile and reuse decisions for `plan` in this repository, from its catalogs."""
    stack, stack_reason = resolve_stack(repo_root, load_stack_profiles(repo_root))
    if not rules.enabled:
        return Bootstrap(plan, _id(stack), stack_reason, ())
    catalog = load_feature_catalog(repo_root)
    decisions: list[ReuseDecision] = []
    tiers = []
    for tier in plan.tiers:
        phases = []
        for phase in tier.phases:
            decision = _decide(phase, catalog, stack, rules)
            if decision is not None:
                decisions.append(decision)
                if decision.reused:
                    phase = phase.model_copy(
                        update={"category": TaskCategory.EXTERNAL_FEATURE_REUSE}
                    )
            phases.append(phase)
        tiers.append(tier.model_copy(update={"phases": tuple(phases)}))
    reshaped = plan.model_copy(update={"tiers": tuple(tiers)})
    return Bootstrap(reshaped, _id(stack), stack_reason, tuple(decisions))


def _id(stack: StackProfile | None) -> str | None:
    return stack.id if stack is not None else None


def _decide(
    phase: PhaseSpec, catalog: FeatureCatalog, stack: StackProfile | None, rules: ReuseRules
) -> ReuseDecision | None:
    text = "\n".join((phase.title, phase.description, *phase.acceptance))
    matches = match_features(text, catalog, stack)
    if not matches:
        return None
    best = matches[0]
    if phase.category not in (None, TaskCategory.EXTERNAL_FEATURE_REUSE):
        return _decision(
            phase,
            best,
            False,
            f"{best.reason}; not reused: the plan sets category {phase.category}",
        )
    if best.feature.quality < rules.min_quality:
        return _decision(
            phase,
            best,
            False,
            f"{best.reason}; not reused: quality {best.feature.quality} is below "
            f"reuse.min_quality {rules.min_quality}",
        )
    share = f"{rules.token_budget_reduction * 100:.0f}%"
    return _decision(
        phase,
        best,
        True,
        f"{best.reason}; reused: token budget cut by {share}, audited as high risk",
        rules.token_budget_reduction,
    )


def _decision(
    phase: PhaseSpec,
    match: FeatureMatch,
    reused: bool,
    reason: str,
    reduction: Decimal = Decimal(0),
) -> ReuseDecision:
    feature = match.feature
    return ReuseDecision(
        phase_id=phase.id,
        feature_id=feature.id,
        feature_name=feature.name,
        source_repo=feature.source_repo,
        path=feature.path,
        licence=feature.licence,
        quality=feature.quality,
        reused=reused,
        reason=reason,
        token_budget_reduction=reduction,
    )
