"""The upstream system's answers, filled from today's store.

Field names and nesting are those upstream answered with at hshk99/Autopack commit
c72e51500e540f508a88d87e94f59e8a480a977c (src/autopack/main.py: start_run's RunResponse,
get_run_metrics, get_tier_metrics, get_issue_backlog_summary, get_budget_analysis,
get_run_summary; src/autopack/schemas.py: RunResponse, TierResponse, PhaseResponse). Upstream's
integer row ids have no counterpart here: a tier's or phase's `id` is its position in the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from autopack.domain.states import RunState
from autopack.domain.strategy import Strategy
from autopack.issues.phase_issue_file import PhaseIssueFile, read_phase_issue_file
from autopack.issues.promotion import distinct_open_counts
from autopack.run.chain_promotion import promotion_in_chain
from autopack.store.engine import Database
from autopack.store.reports import RunListing, run_listing, spend_by
from autopack.store.runs import RunRecord


class UpstreamPhaseView(BaseModel):
    id: int
    phase_id: str
    name: str
    description: str | None
    state: str
    task_category: str
    complexity: str
    builder_mode: str
    phase_index: int


class UpstreamTierView(BaseModel):
    id: int
    tier_id: str
    name: str
    state: str
    tier_index: int
    cleanliness: str | None
    minor_issues_count: int
    major_issues_count: int
    phases: list[UpstreamPhaseView]


class UpstreamRunView(BaseModel):
    id: str
    state: RunState
    safety_profile: str
    run_scope: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    tokens_used: int
    ci_runs_used: int
    minor_issues_count: int
    major_issues_count: int
    promotion_eligible_to_main: str
    debt_status: str | None
    failure_reason: str | None
    tiers: list[UpstreamTierView]
    # Ours: the id the request asked for (kept as the run's title) and where the run is now.
    requested_run_id: str | None = None
    links: dict[str, str]


class UpstreamRunMetrics(BaseModel):
    run_id: str
    state: RunState
    safety_profile: str
    tokens_used: int
    token_cap: int
    token_utilization: float
    minor_issues_count: int
    major_issues_count: int
    max_minor_issues_total: int
    phase_count: int
    tier_count: int
    started_at: datetime | None
    completed_at: datetime | None


class UpstreamRunMetricsPage(BaseModel):
    total_runs: int
    runs: list[UpstreamRunMetrics]


class UpstreamTierMetrics(BaseModel):
    tier_id: str
    tier_index: int
    name: str
    state: str
    minor_issues_count: int
    major_issues_count: int
    phase_count: int
    phase_states: dict[str, int]
    tokens_used: int


class UpstreamTierMetricsPage(BaseModel):
    run_id: str
    tier_count: int
    tiers: list[UpstreamTierMetrics]


class SummaryBudgets(BaseModel):
    tokens_used: int
    token_cap: int
    token_utilization: float
    phase_count: int
    max_phases: int


class SummaryIssues(BaseModel):
    minor_count: int
    major_count: int
    max_minor_total: int
    distinct_issues: int


class SummaryTier(BaseModel):
    tier_id: str
    name: str
    state: str
    phase_count: int
    minor_issues: int
    major_issues: int
    tokens_used: int


class SummaryPhase(BaseModel):
    phase_id: str
    phase_index: int
    name: str
    state: str
    task_category: str
    complexity: str
    builder_attempts: int
    auditor_attempts: int
    tokens_used: int
    minor_issues: int
    major_issues: int


class UpstreamRunSummary(BaseModel):
    run_id: str
    state: RunState
    safety_profile: str
    run_scope: str
    budgets: SummaryBudgets
    issues: SummaryIssues
    tiers: list[SummaryTier]
    phases: list[SummaryPhase]
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class RunFacts:
    """What the upstream views of one run are made of."""

    record: RunRecord
    strategy: Strategy
    listing: RunListing
    files: tuple[PhaseIssueFile, ...]

    def counts(self, *, tier_id: str | None = None, phase_id: str | None = None) -> tuple[int, int]:
        """Distinct open (minor, major) issue keys of the run, one tier or one phase."""
        return distinct_open_counts(
            file
            for file in self.files
            if tier_id in (None, file.tier_id) and phase_id in (None, file.phase_id)
        )

    @property
    def token_cap(self) -> int:
        return self.strategy.limits.budget.tokens

    @property
    def utilization(self) -> float:
        return self.listing.spend.tokens / self.token_cap

    @property
    def phase_count(self) -> int:
        return sum(len(tier.phases) for tier in self.record.tiers)


def facts_of(database: Database, runs_dir: Path, record: RunRecord) -> RunFacts:
    listing = run_listing(database, record.run_id)
    assert listing is not None  # the record was just read
    run_dir = runs_dir / record.run_id
    files = tuple(read_phase_issue_file(p) for p in sorted(run_dir.glob("phase_*_issues.json")))
    return RunFacts(record, Strategy.model_validate_json(record.strategy_json), listing, files)


def _tokens(database: Database, dimension: str, run_id: str) -> dict[str, int]:
    return {s.key: s.spend.tokens for s in spend_by(database, dimension, run_id=run_id)}


def _debt_status(facts: RunFacts) -> str:
    minor, major = facts.counts()
    if minor == major == 0:
        return "clean"
    if minor > facts.strategy.limits.max_minor_issues_total:
        return "excess_minor_issues"
    return "has_minor_issues" if major == 0 else "has_major_issues"


def run_view(database: Database, facts: RunFacts, requested_run_id: str | None) -> UpstreamRunView:
    record = facts.record
    minor, major = facts.counts()
    tiers = []
    for tier in record.tiers:
        tier_minor, tier_major = facts.counts(tier_id=tier.tier_id)
        phases = [
            UpstreamPhaseView(
                id=phase.position,
                phase_id=phase.phase_id,
                name=phase.title,
                description=None,
                state=phase.state.value,
                task_category=phase.task_category.value,
                complexity=phase.complexity.value,
                builder_mode=phase.builder_mode.value,
                phase_index=phase.position,
            )
            for phase in tier.phases
        ]
        tiers.append(
            UpstreamTierView(
                id=tier.position,
                tier_id=tier.tier_id,
                name=tier.name,
                state=tier.state.value,
                tier_index=tier.position,
                cleanliness=tier.cleanliness.value if tier.cleanliness else None,
                minor_issues_count=tier_minor,
                major_issues_count=tier_major,
                phases=phases,
            )
        )
    eligible = promotion_in_chain(database, record).eligible
    return UpstreamRunView(
        id=record.run_id,
        state=record.state,
        safety_profile=record.safety_profile.value,
        run_scope=record.run_scope.value,
        created_at=record.created_at,
        started_at=record.created_at,
        completed_at=record.ended_at,
        tokens_used=facts.listing.spend.tokens,
        ci_runs_used=facts.listing.ci_runs,
        minor_issues_count=minor,
        major_issues_count=major,
        promotion_eligible_to_main="true" if eligible else "false",
        debt_status=_debt_status(facts),
        failure_reason=record.failure.message if record.failure else None,
        tiers=tiers,
        requested_run_id=requested_run_id,
        links={"self": f"/runs/{record.run_id}", "events": f"/runs/{record.run_id}/events"},
    )


def run_metrics(facts: RunFacts) -> UpstreamRunMetrics:
    minor, major = facts.counts()
    return UpstreamRunMetrics(
        run_id=facts.record.run_id,
        state=facts.record.state,
        safety_profile=facts.record.safety_profile.value,
        tokens_used=facts.listing.spend.tokens,
        token_cap=facts.token_cap,
        token_utilization=facts.utilization,
        minor_issues_count=minor,
        major_issues_count=major,
        max_minor_issues_total=facts.strategy.limits.max_minor_issues_total,
        phase_count=facts.phase_count,
        tier_count=len(facts.record.tiers),
        started_at=facts.record.created_at,
        completed_at=facts.record.ended_at,
    )


def _states(states: list[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for state in states:
        counted[state] = counted.get(state, 0) + 1
    return counted


def tier_metrics(database: Database, facts: RunFacts) -> UpstreamTierMetricsPage:
    tokens = _tokens(database, "tier", facts.record.run_id)
    tiers = []
    for tier in facts.record.tiers:
        minor, major = facts.counts(tier_id=tier.tier_id)
        tiers.append(
            UpstreamTierMetrics(
                tier_id=tier.tier_id,
                tier_index=tier.position,
                name=tier.name,
                state=tier.state.value,
                minor_issues_count=minor,
                major_issues_count=major,
                phase_count=len(tier.phases),
                phase_states=_states([phase.state.value for phase in tier.phases]),
                tokens_used=tokens.get(tier.tier_id, 0),
            )
        )
    return UpstreamTierMetricsPage(run_id=facts.record.run_id, tier_count=len(tiers), tiers=tiers)


def run_summary(
    database: Database, facts: RunFacts, auditor_attempts: dict[str, int]
) -> UpstreamRunSummary:
    record = facts.record
    tier_tokens = _tokens(database, "tier", record.run_id)
    phase_tokens = _tokens(database, "phase", record.run_id)
    minor, major = facts.counts()
    tiers, phases = [], []
    for tier in record.tiers:
        tier_minor, tier_major = facts.counts(tier_id=tier.tier_id)
        tiers.append(
            SummaryTier(
                tier_id=tier.tier_id,
                name=tier.name,
                state=tier.state.value,
                phase_count=len(tier.phases),
                minor_issues=tier_minor,
                major_issues=tier_major,
                tokens_used=tier_tokens.get(tier.tier_id, 0),
            )
        )
        for phase in tier.phases:
            phase_minor, phase_major = facts.counts(phase_id=phase.phase_id)
            phases.append(
                SummaryPhase(
                    phase_id=phase.phase_id,
                    phase_index=phase.position,
                    name=phase.title,
                    state=phase.state.value,
                    task_category=phase.task_category.value,
                    complexity=phase.complexity.value,
                    builder_attempts=phase.attempts_used,
                    auditor_attempts=auditor_attempts.get(phase.phase_id, 0),
                    tokens_used=phase_tokens.get(phase.phase_id, 0),
                    minor_issues=phase_minor,
                    major_issues=phase_major,
                )
            )
    return UpstreamRunSummary(
        run_id=record.run_id,
        state=record.state,
        safety_profile=record.safety_profile.value,
        run_scope=record.run_scope.value,
        budgets=SummaryBudgets(
            tokens_used=facts.listing.spend.tokens,
            token_cap=facts.token_cap,
            token_utilization=facts.utilization,
            phase_count=facts.phase_count,
            max_phases=facts.strategy.limits.max_phases,
        ),
        issues=SummaryIssues(
            minor_count=minor,
            major_count=major,
            max_minor_total=facts.strategy.limits.max_minor_issues_total,
            distinct_issues=len({i.issue_key for f in facts.files for i in f.issues}),
        ),
        tiers=tiers,
        phases=phases,
        started_at=record.created_at,
        completed_at=record.ended_at,
    )
