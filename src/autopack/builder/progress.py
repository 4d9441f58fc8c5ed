"""Deterministic no-progress detection, so a stuck agent stops instead of burning its budget.

Four patterns, each a named reason the next attempt is told about: the same action with the same
result again and again; two actions alternating; edits failing in a row; and many steps in which
neither the diff nor the test results moved. Across attempts: an attempt that ends with the same
diff and the same failing tests as an earlier one made no progress either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class Stuck(Exception):
    def __init__(self, pattern: str, detail: str):
        self.pattern = pattern
        self.detail = detail
        super().__init__(f"{pattern}: {detail}")


def digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", errors="replace"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


@dataclass(frozen=True)
class ProgressLimits:
    repeats: int = 3
    alternations: int = 3  # A,B pairs
    failed_edits: int = 4
    stale_steps: int = 15


@dataclass
class ProgressMonitor:
    limits: ProgressLimits = field(default_factory=ProgressLimits)
    _steps: list[str] = field(default_factory=list)
    _failed_edits: int = 0
    _state: Hashable = None
    _unchanged: int = 0

    def observe(
        self, action: str, arguments: str, observation: str, *, failed_edit: bool, state: Hashable
    ) -> None:
        """Record one step; raise Stuck when a pattern is met. `state` = (diff, test results)."""
        self._steps.append(digest(action, arguments, observation))
        self._failed_edits = self._failed_edits + 1 if failed_edit else 0
        if state == self._state:
            self._unchanged += 1
        else:
            self._state, self._unchanged = state, 0
        self._check(action)

    def _check(self, action: str) -> None:
        limits, steps = self.limits, self._steps
        if len(steps) >= limits.repeats and len(set(steps[-limits.repeats :])) == 1:
            raise Stuck(
                "repeated_action",
                f"the same {action} with the same result {limits.repeats} times in a row",
            )
        span = 2 * limits.alternations
        if len(steps) >= span:
            window = steps[-span:]
            first, second = window[0], window[1]
            if first != second and all(
                step == (first if i % 2 == 0 else second) for i, step in enumerate(window)
            ):
                raise Stuck(
                    "alternating_actions",
                    f"alternated between the same two actions {limits.alternations} times",
                )
        if self._failed_edits >= limits.failed_edits:
            raise Stuck("failing_edits", f"{self._failed_edits} edits in a row did not apply")
        if self._unchanged >= limits.stale_steps:
            raise Stuck(
                "no_change",
                f"neither the diff nor the test results changed over {self._unchanged} steps",
            )


class AttemptFingerprint(BaseModel):
    """How an attempt ended, for comparing attempts of the same phase."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diff_digest: str
    failing: tuple[str, ...]


def fingerprint(diff: str, failing: Sequence[str]) -> AttemptFingerprint:
    return AttemptFingerprint(diff_digest=digest(diff), failing=tuple(sorted(failing)))


def repeated_attempt(
    earlier: Sequence[AttemptFingerprint], current: AttemptFingerprint
) -> str | None:
    """A sentence when this attempt ended exactly as an earlier one did, else None."""
    for number, previous in enumerate(earlier, 1):
        if previous == current:
            return (
                f"attempt ended with the same diff and the same {len(current.failing)} failing "
                f"checks as attempt {number}"
            )
    return None
