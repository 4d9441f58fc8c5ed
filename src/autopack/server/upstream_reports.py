"""The upstream system's two project reports, filled from today's backlog and runs.

Shapes as hshk99/Autopack answered them at commit c72e51500e540f508a88d87e94f59e8a480a977c
(src/autopack/main.py: get_issue_backlog_summary, get_budget_analysis). Upstream had one project;
here both read one project, the server's own unless `project` names another.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from autopack.domain.issues import BacklogEntry
from autopack.domain.states import RunState
from autopack.domain.vocabulary import IssueState
from autopack.server.upstream_views import RunFacts
from autopack.strategy.debt import aged_into_major

TOP_AGING = 10  # upstream's top_aging_issues held the ten oldest
NEEDS_CLEANUP, OPEN, RESOLVED = "needs_cleanup", "open", "resolved"


class UpstreamBacklogItem(BaseModel):
    issue_key: str
    category: str
    base_severity: str
    effective_severity: str
    age_in_runs: int
    age_in_tiers: int
    status: str
    first_seen_run_id: str
    last_seen_run_id: str


class UpstreamBacklogSummary(BaseModel):
    project_id: str
    total_issues: int
    open_count: int
    needs_cleanup_count: int
    top_aging_issues: list[tuple[str, UpstreamBacklogItem]]
    needs_cleanup: list[UpstreamBacklogItem]


class UpstreamBudgetFailure(BaseModel):
    run_id: str
    state: RunState
    tokens_used: int
    token_cap: int
    token_utilization: float
    phase_count: int
    max_phases: int
    minor_issues_count: int
    max_minor_issues_total: int
    started_at: datetime | None
    completed_at: datetime | None


class UpstreamBudgetAnalysis(BaseModel):
    project_id: str
    total_budget_failures: int
    average_token_utilization: float
    failures: list[UpstreamBudgetFailure]


def _item(entry: BacklogEntry, status: str) -> UpstreamBacklogItem:
    return UpstreamBacklogItem(
        issue_key=entry.issue_key,
        category=entry.category,
        base_severity=entry.severity.value,
        effective_severity=entry.effective_severity.value,
        age_in_runs=entry.age_in_runs,
        age_in_tiers=entry.age_in_tiers,
        status=status,
        first_seen_run_id=entry.first_seen_run,
        last_seen_run_id=entry.last_seen_run,
    )


def backlog_summary(project_id: str, backlog: Sequence[BacklogEntry]) -> UpstreamBacklogSummary:
    """Upstream's `needs_cleanup` is what our aging makes debt: open minors aged into majors, which
    the next run pays down in a debt-cleanup phase (strategy/debt.py)."""
    debt = {entry.issue_key for entry in aged_into_major(backlog)}

    def status(entry: BacklogEntry) -> str:
        if entry.issue_state is IssueState.RESOLVED:
            return RESOLVED
        return NEEDS_CLEANUP if entry.issue_key in debt else OPEN

    items = [_item(entry, status(entry)) for entry in backlog]
    oldest = sorted(items, key=lambda item: (-item.age_in_runs, item.issue_key))
    return UpstreamBacklogSummary(
        project_id=project_id,
        total_issues=len(items),
        open_count=sum(1 for item in items if item.status == OPEN),
        needs_cleanup_count=sum(1 for item in items if item.status == NEEDS_CLEANUP),
        top_aging_issues=[(item.issue_key, item) for item in oldest[:TOP_AGING]],
        needs_cleanup=[item for item in oldest if item.status == NEEDS_CLEANUP],
    )


def budget_failure(facts: RunFacts) -> UpstreamBudgetFailure:
    minor, _major = facts.counts()
    return UpstreamBudgetFailure(
        run_id=facts.record.run_id,
        state=facts.record.state,
        tokens_used=facts.listing.spend.tokens,
        token_cap=facts.token_cap,
        token_utilization=facts.utilization,
        phase_count=facts.phase_count,
        max_phases=facts.strategy.limits.max_phases,
        minor_issues_count=minor,
        max_minor_issues_total=facts.strategy.limits.max_minor_issues_total,
        started_at=facts.record.created_at,
        completed_at=facts.record.ended_at,
    )


def budget_analysis(
    project_id: str, total: int, failures: list[UpstreamBudgetFailure]
) -> UpstreamBudgetAnalysis:
    average = sum(f.token_utilization for f in failures) / len(failures) if failures else 0.0
    return UpstreamBudgetAnalysis(
        project_id=project_id,
        total_budget_failures=total,
        average_token_utilization=average,
        failures=failures,
    )
