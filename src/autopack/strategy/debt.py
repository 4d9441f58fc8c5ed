"""Aged backlog issues become a `debt_cleanup` phase, scoped to the paths they were seen in."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from autopack.domain.issues import BacklogEntry
from autopack.domain.plan import PhaseSpec, TierSpec
from autopack.domain.vocabulary import IssueState, Severity, TaskCategory

DEBT_PHASE_ID = "debt-cleanup"


@dataclass(frozen=True)
class DebtPhase:
    phase: PhaseSpec
    reason: str
    issue_keys: tuple[str, ...]


def aged_into_major(backlog: Sequence[BacklogEntry]) -> list[BacklogEntry]:
    """Open minors whose age made them effective majors: the debt a run must pay first."""
    return [
        entry
        for entry in backlog
        if entry.issue_state is IssueState.OPEN
        and entry.severity is Severity.MINOR
        and entry.effective_severity is Severity.MAJOR
    ]


def debt_cleanup_phase(
    backlog: Sequence[BacklogEntry], first_tier: TierSpec, *, taken: Collection[str]
) -> DebtPhase | None:
    aged = sorted(aged_into_major(backlog), key=lambda entry: entry.issue_key)
    if not aged:
        return None
    phase_id = DEBT_PHASE_ID
    suffix = 2
    while phase_id in taken:
        phase_id = f"{DEBT_PHASE_ID}-{suffix}"
        suffix += 1
    keys = [entry.issue_key for entry in aged]
    lines = [f"- {entry.issue_key}: {entry.summary or entry.category}" for entry in aged]
    phase = PhaseSpec(
        id=phase_id,
        title="Pay down aged issues from the project backlog",
        tier_id=first_tier.id,
        category=TaskCategory.DEBT_CLEANUP,
        scope=tuple(sorted({path for entry in aged for path in entry.paths})),
        description="Resolve these issues, which aged into effective majors:\n" + "\n".join(lines),
    )
    reason = f"backlog has {len(aged)} aged issue(s) now effectively major: {', '.join(keys)}"
    return DebtPhase(phase=phase, reason=reason, issue_keys=tuple(keys))
