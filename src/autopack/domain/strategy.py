"""The frozen per-run strategy: every budget, cap, profile and model a run obeys, decided before it starts."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.vocabulary import (
    AuditorProfile,
    BuilderMode,
    BuilderName,
    CIProfile,
    Complexity,
    Role,
    RunScope,
    SafetyProfile,
    Severity,
    TaskCategory,
    TestChanges,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Budget(_Frozen):
    tokens: int = Field(ge=0)
    usd: Decimal = Field(ge=0)


class ReuseDecision(_Frozen):
    """Phase 0's verdict on one catalog feature a phase asked for, with the reason either way."""

    phase_id: str
    feature_id: str
    feature_name: str
    source_repo: str
    path: str
    licence: str
    quality: int = Field(ge=0, le=100)
    reused: bool
    reason: str
    token_budget_reduction: Decimal = Field(default=Decimal(0), ge=0, lt=1)


class RouteChoice(_Frozen):
    """Who chose a role's alias for a phase and why; `static_alias` is what the table says."""

    policy: str
    alias: str
    static_alias: str
    reason: str


class PhaseStrategy(_Frozen):
    phase_id: str
    tier_id: str
    title: str
    position: int = Field(ge=1)
    task_category: TaskCategory
    category_reason: str
    complexity: Complexity
    complexity_reason: str
    builder_mode: BuilderMode
    builder_mode_reason: str
    builder: BuilderName = BuilderName.AUTOPACK
    test_changes: TestChanges = TestChanges.GUARDED
    high_risk: bool
    default_severity: Severity
    budget: Budget
    incident_budget: Budget
    max_builder_attempts: int = Field(ge=1)
    max_auditor_attempts: int = Field(ge=1)
    ci_profile: CIProfile
    auditor_profile: AuditorProfile
    auto_apply: bool
    models: dict[Role, str]
    # How each of `models` was chosen (empty in strategies frozen before routing could learn).
    routes: dict[Role, RouteChoice] = Field(default_factory=dict)
    scope: tuple[str, ...] = ()
    acceptance: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    description: str = ""
    inserted_reason: str | None = None
    # Backlog issue keys this phase exists to pay off: resolved in the backlog once it commits.
    resolves: tuple[str, ...] = ()
    reuse: ReuseDecision | None = None


class TierStrategy(_Frozen):
    tier_id: str
    name: str
    budget: Budget
    ci_run_cap: int = Field(ge=0)
    minor_issues_tolerated: int = Field(ge=0)
    major_issues_tolerated: int = Field(ge=0)
    phases: tuple[PhaseStrategy, ...]


class RunLimits(_Frozen):
    budget: Budget
    max_phases: int = Field(ge=1)
    max_duration_minutes: int = Field(ge=1)
    max_minor_issues_total: int = Field(ge=0)
    max_parallel_phases: int = Field(default=1, ge=1)


class Strategy(_Frozen):
    run_id: str
    project_id: str
    plan_title: str
    plan_source: str | None
    safety_profile: SafetyProfile
    run_scope: RunScope
    limits: RunLimits
    tiers: tuple[TierStrategy, ...]
    model_aliases: dict[str, str] = Field(
        description="alias -> provider:model for every alias this strategy routes to"
    )
    backlog_keys_considered: tuple[str, ...] = ()
    stack_profile: str | None = None
    stack_reason: str = ""
    reuse_decisions: tuple[ReuseDecision, ...] = ()

    @property
    def phases(self) -> tuple[PhaseStrategy, ...]:
        return tuple(phase for tier in self.tiers for phase in tier.phases)
