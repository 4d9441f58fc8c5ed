"""The Builder seam: what every builder is given for an attempt and what it must hand back.

The diff in a BuilderResult is always read from the worktree by git, never taken from what a
model says it changed: an agent's claims and its effects are kept apart.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.strategy import PhaseStrategy
from autopack.workspace.base import Worktree


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeedbackKind(StrEnum):
    TEST_FAILURE = "test_failure"
    AUDITOR_FINDING = "auditor_finding"
    PATCH_DIAGNOSTIC = "patch_diagnostic"
    NO_PROGRESS = "no_progress"
    POLICY = "policy"


class Feedback(_Value):
    """What an earlier attempt of the same phase left for the next one to fix."""

    kind: FeedbackKind
    summary: str
    detail: str = ""


class BuildRequest(_Value):
    phase: PhaseStrategy
    worktree: Worktree
    attempt: int = Field(ge=1)
    feedback: tuple[Feedback, ...] = ()
    # What the ledger still allows this attempt: external CLIs are told it as their own cap.
    remaining_tokens: int | None = Field(default=None, ge=0)
    remaining_usd: Decimal | None = Field(default=None, ge=0)


class StopReason(StrEnum):
    FINISHED = "finished"
    STEP_LIMIT = "step_limit"
    WALL_CLOCK = "wall_clock"
    BUDGET = "budget"
    NO_PROGRESS = "no_progress"
    AGENT_ERROR = "agent_error"
    # No provider could answer after retries and fallbacks: the environment, not the attempt, failed.
    PROVIDER_UNAVAILABLE = "provider_unavailable"


class BuilderUsage(_Value):
    requests: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    # What the tool itself reported paying, when it reports it (external CLIs); None = priced by us.
    reported_usd: Decimal | None = None


class TrajectoryStep(_Value):
    """One action and what it observed, already redacted."""

    number: int = Field(ge=1)
    action: str
    arguments: str = ""
    observation: str = ""
    failed: bool = False


class SuggestedIssue(_Value):
    issue_key: str
    summary: str
    # "minor" or "major"; left out, the phase's default severity (major in high-risk categories).
    severity: str | None = None


class BuilderResult(_Value):
    builder: str
    stop_reason: StopReason
    stop_detail: str = ""
    diff: str
    changed_paths: tuple[str, ...] = ()
    summary: str = ""
    suggested_issues: tuple[SuggestedIssue, ...] = ()
    usage: BuilderUsage = BuilderUsage()
    trajectory: tuple[TrajectoryStep, ...] = ()

    @property
    def finished(self) -> bool:
        return self.stop_reason is StopReason.FINISHED


class Builder(Protocol):
    name: str

    async def build(self, request: BuildRequest) -> BuilderResult: ...
