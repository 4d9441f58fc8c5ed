"""What each step of an attempt returns: plain frozen values, checkpointed by DBOS and read by
`run/decide.py`."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from autopack.builder.base import StopReason


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuildOutcome(_Value):
    attempt: int
    stop_reason: StopReason
    stop_detail: str
    diff: str
    changed_paths: tuple[str, ...]
    summary: str
    base_commit: str
    tokens: int
    usd: Decimal
    # The attempt's worktree as git staged it: what the gate judges and lands.
    tree: str = ""
    # Why git could not even stage what the Builder made (a forbidden name): the rule it breaks.
    refusal: str | None = None


class GateOutcome(_Value):
    applied: bool
    violation: str | None = None
    message: str = ""
    # The integration branch's head the attempt was merged onto, and the merged tree: what the
    # checks check and the commit lands, unless the head moved on first.
    head: str = ""
    tree: str = ""


class VerifyOutcome(_Value):
    passed: bool
    failures: tuple[str, ...] = ()
    output: str = ""
    sandbox: str = ""


class AuditStepOutcome(_Value):
    reason: str | None = None
    majors: int = 0
    findings: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the issue keys of the kept findings
    error: str | None = None

    @property
    def approves(self) -> bool:
        """The Auditor ran, gave a valid report, and found no major problem."""
        return self.reason is not None and self.error is None and self.majors == 0
