"""The project ruleset: every default of the playbook, each overridable from `[ruleset]` in autopack.toml."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autopack.domain.vocabulary import (
    HIGH_RISK_CATEGORIES,
    BuilderMode,
    BuilderName,
    Complexity,
    SafetyProfile,
    TaskCategory,
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunLimits(_Section):
    token_cap: int = Field(default=5_000_000, gt=0)
    usd_cap: Decimal = Field(default=Decimal("50"), gt=0)
    max_phases: int = Field(default=25, gt=0)
    max_duration_minutes: int = Field(default=120, gt=0)
    # Phases of one tier built at once (their depends_on met); 1 builds them in plan order.
    max_parallel_phases: int = Field(default=1, gt=0, le=32)
    # max_minor_issues_total = phases x this factor
    minor_issues_per_phase: int = Field(default=3, ge=0)


class ComplexityBudget(_Section):
    token_cap: int = Field(gt=0)
    usd_cap: Decimal = Field(gt=0)


def _default_complexity_budgets() -> dict[Complexity, ComplexityBudget]:
    return {
        Complexity.LOW: ComplexityBudget(token_cap=200_000, usd_cap=Decimal("2")),
        Complexity.MEDIUM: ComplexityBudget(token_cap=500_000, usd_cap=Decimal("5")),
        Complexity.HIGH: ComplexityBudget(token_cap=1_000_000, usd_cap=Decimal("10")),
    }


class HighRiskRule(_Section):
    """How a high-risk category is governed; the playbook gives ranges, each category sits in them."""

    max_builder_attempts: int = Field(ge=1, le=2)
    max_auditor_attempts: int = Field(ge=2, le=3)
    incident_token_cap: int = Field(ge=800_000, le=1_500_000)
    incident_usd_cap: Decimal = Field(gt=0)


def _default_high_risk() -> dict[TaskCategory, HighRiskRule]:
    def rule(builder: int, auditor: int, tokens: int, usd: str) -> HighRiskRule:
        return HighRiskRule(
            max_builder_attempts=builder,
            max_auditor_attempts=auditor,
            incident_token_cap=tokens,
            incident_usd_cap=Decimal(usd),
        )

    return {
        TaskCategory.CROSS_CUTTING_REFACTOR: rule(2, 3, 1_500_000, "15"),
        TaskCategory.INDEX_REGISTRY_CHANGE: rule(2, 2, 800_000, "8"),
        TaskCategory.SCHEMA_CONTRACT_CHANGE: rule(1, 3, 1_200_000, "12"),
        TaskCategory.BULK_MULTI_FILE_OPERATION: rule(2, 2, 1_500_000, "15"),
        TaskCategory.SECURITY_AUTH_CHANGE: rule(1, 3, 1_000_000, "10"),
        TaskCategory.EXTERNAL_FEATURE_REUSE: rule(2, 3, 800_000, "8"),
    }


class ModeRule(_Section):
    """A Builder mode's caps: the phase token cap is the lower of this and its complexity's cap."""

    max_builder_attempts: int = Field(ge=1, le=10)
    token_cap: int = Field(gt=0)


def _default_modes() -> dict[BuilderMode, ModeRule]:
    return {
        BuilderMode.TWEAK_LIGHT: ModeRule(max_builder_attempts=3, token_cap=200_000),
        BuilderMode.SCAFFOLDING_HEAVY: ModeRule(max_builder_attempts=2, token_cap=800_000),
        BuilderMode.REFACTOR_HEAVY: ModeRule(max_builder_attempts=2, token_cap=1_000_000),
        BuilderMode.SCHEMA_HEAVY: ModeRule(max_builder_attempts=2, token_cap=800_000),
    }


class TierRules(_Section):
    # tier token cap = factor x the sum of its phases' incident caps
    token_cap_factor: int = Field(default=3, ge=1)
    usd_cap_factor: int = Field(default=3, ge=1)
    ci_runs_per_phase: int = Field(default=2, ge=1)
    minor_issues_per_phase_normal: int = Field(default=2, ge=0)
    minor_issues_per_phase_safety_critical: int = Field(default=1, ge=0)
    # The playbook tolerates no open major in a clean tier.
    major_issues_per_phase_normal: int = Field(default=0, ge=0)
    major_issues_safety_critical: int = Field(default=0, ge=0)


class AgingRules(_Section):
    runs: int = Field(default=3, ge=1)
    tiers: int = Field(default=2, ge=1)


class ReuseRules(_Section):
    """How Phase 0 treats catalog features: reuse costs less to build but is audited as high risk."""

    # The playbook's range: adapting proven code needs 40-60% fewer tokens than writing it.
    token_budget_reduction: Decimal = Field(
        default=Decimal("0.5"), ge=Decimal("0.4"), le=Decimal("0.6")
    )
    min_quality: int = Field(default=60, ge=0, le=100)
    enabled: bool = True


class BuilderContextRules(_Section):
    """How the built-in Builder keeps its conversation bounded (builder/context.py)."""

    # A tool observation this many steps old is due to be replaced by a one-line stub ...
    elide_after_steps: int = Field(default=4, ge=1)
    # ... unless it is one of the latest observations, which stay whole ...
    keep_last_observations: int = Field(default=3, ge=0)
    # ... and only once this many are due, all at once: the request's prefix (which providers
    # cache) then changes once every block, not at every step.
    elide_block: int = Field(default=8, ge=1)
    # When the next request would pass this share of the model's context window, the history
    # before the latest steps is summarised once by the fast alias.
    summarise_at_share: float = Field(default=0.6, gt=0, lt=1)


class Ruleset(_Section):
    safety_profile: SafetyProfile = SafetyProfile.NORMAL
    run: RunLimits = RunLimits()
    complexity: dict[Complexity, ComplexityBudget] = Field(
        default_factory=_default_complexity_budgets
    )
    high_risk: dict[TaskCategory, HighRiskRule] = Field(default_factory=_default_high_risk)
    modes: dict[BuilderMode, ModeRule] = Field(default_factory=_default_modes)
    tier: TierRules = TierRules()
    aging: AgingRules = AgingRules()
    reuse: ReuseRules = ReuseRules()
    builder_context: BuilderContextRules = BuilderContextRules()
    # Who builds phases whose plan names no builder: Autopack's agent or an external CLI.
    builder: BuilderName = BuilderName.AUTOPACK
    max_auditor_attempts: int = Field(default=2, ge=1, le=5)
    allow_auto_apply_high_risk: bool = False
    # A refused patch ends the run in DONE_FAILED_POLICY_VIOLATION; false lets the Builder retry
    # within its attempt cap with the violation as feedback.
    policy_violation_ends_run: bool = True

    @model_validator(mode="before")
    @classmethod
    def _merge_partial_tables(cls, data: object) -> object:
        """A ruleset that overrides one complexity or category keeps the defaults of the others."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        _refuse_categories_that_are_not_high_risk(merged.get("high_risk"))
        defaults: dict[str, dict[str, BaseModel]] = {
            "complexity": {k.value: v for k, v in _default_complexity_budgets().items()},
            "high_risk": {k.value: v for k, v in _default_high_risk().items()},
            "modes": {k.value: v for k, v in _default_modes().items()},
        }
        for key, table in defaults.items():
            given = merged.get(key)
            if isinstance(given, dict):
                full: dict[str, object] = {name: rule.model_dump() for name, rule in table.items()}
                for name, override in given.items():
                    base = full.get(name)
                    if isinstance(base, dict) and isinstance(override, dict):
                        full[name] = {**base, **override}
                    else:
                        full[name] = override
                merged[key] = full
        return merged


def _refuse_categories_that_are_not_high_risk(table: object) -> None:
    if not isinstance(table, dict):
        return
    allowed = {category.value for category in HIGH_RISK_CATEGORIES}
    stray = sorted(str(name) for name in table if name not in allowed)
    if stray:
        raise ValueError(
            f"not high-risk categories: {', '.join(stray)} (allowed: {', '.join(sorted(allowed))})"
        )
