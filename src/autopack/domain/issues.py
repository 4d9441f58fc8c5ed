"""Issue values at the playbook's three levels: a phase occurrence, the run index, the project backlog."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.vocabulary import (
    Complexity,
    IssueSource,
    IssueState,
    Severity,
    TaskCategory,
)

ISSUE_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.:/-]{0,199}$"
_KEY_ALPHABET = re.compile(r"[^a-z0-9_.:/-]+")


def clean_key(raw: str) -> str:
    """Models write keys loosely ("SQL Injection in db.py"); issue keys have a strict alphabet."""
    cleaned = _KEY_ALPHABET.sub("-", raw.strip().lower())
    cleaned = re.sub(r"-*([:/])-*", r"\1", cleaned).strip("-.:/_")
    return cleaned[:200] or "finding"


def worse(first: Severity, second: Severity) -> Severity:
    """The more serious of two severities: an issue is as bad as its worst sighting."""
    return Severity.MAJOR if Severity.MAJOR in (first, second) else Severity.MINOR


class PhaseIssue(BaseModel):
    """One issue as seen in one phase of one run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issue_key: str = Field(pattern=ISSUE_KEY_PATTERN)
    severity: Severity
    effective_severity: Severity
    source: IssueSource
    category: str = Field(min_length=1)
    task_category: TaskCategory | None = None
    complexity: Complexity | None = None
    expected_fail: bool = False
    occurrence_count: int = Field(default=1, ge=1)
    first_seen_run: str
    last_seen_run: str
    evidence_refs: tuple[str, ...] = ()
    issue_state: IssueState = IssueState.OPEN
    summary: str = ""
    paths: tuple[str, ...] = ()


class BacklogEntry(BaseModel):
    """An issue_key's history across runs of one project."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issue_key: str = Field(pattern=ISSUE_KEY_PATTERN)
    severity: Severity
    effective_severity: Severity
    category: str
    source: IssueSource
    age_in_runs: int = Field(default=1, ge=0)
    age_in_tiers: int = Field(default=1, ge=0)
    occurrence_count: int = Field(default=1, ge=1)
    first_seen_run: str
    last_seen_run: str
    issue_state: IssueState = IssueState.OPEN
    paths: tuple[str, ...] = ()
    summary: str = ""
