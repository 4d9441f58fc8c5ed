"""The budget ledger: run -> tier -> phase -> attempt caps in tokens and USD.

Before each call its worst case is reserved at every level; if any level cannot cover it the call
is not made. After the call the reservation is replaced by what the provider reported. So spend
passes a cap by at most what one call's actual usage exceeded its reservation — never more than
one call's worst case.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from autopack.errors import AutopackError


class Level(StrEnum):
    RUN = "run"
    TIER = "tier"
    PHASE = "phase"
    ATTEMPT = "attempt"


Scope = tuple[Level, str]


@dataclass(frozen=True)
class Amount:
    tokens: int = 0
    usd: Decimal = Decimal(0)

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.tokens + other.tokens, self.usd + other.usd)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.tokens - other.tokens, self.usd - other.usd)


@dataclass(frozen=True)
class Cap:
    """None means unlimited on that axis."""

    tokens: int | None = None
    usd: Decimal | None = None


class BudgetExhausted(AutopackError):
    """A call was not made because a level could not cover its worst case."""

    def __init__(self, scope: Scope, needed: Amount, remaining: Amount):
        self.level, self.key = scope
        self.needed = needed
        self.remaining = remaining
        super().__init__(
            f"{self.level.value} budget {self.key!r} cannot cover the next call: it needs up to "
            f"{needed.tokens:,} tokens / ${needed.usd:.4f}, {max(remaining.tokens, 0):,} tokens / "
            f"${max(remaining.usd, Decimal(0)):.4f} remain"
        )

    @property
    def reason_code(self) -> str:
        return f"budget.{self.level.value}"


@dataclass(frozen=True)
class Reservation:
    id: int
    scopes: tuple[Scope, ...]
    amount: Amount


@dataclass
class BudgetLedger:
    caps: dict[Scope, Cap] = field(default_factory=dict)
    _spent: dict[Scope, Amount] = field(default_factory=dict)
    _held: dict[int, Reservation] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_cap(self, scope: Scope, cap: Cap) -> None:
        with self._lock:
            self.caps[scope] = cap

    def spent(self, scope: Scope) -> Amount:
        return self._spent.get(scope, Amount())

    def reserved(self, scope: Scope) -> Amount:
        return sum((r.amount for r in self._held.values() if scope in r.scopes), Amount())

    def remaining(self, scope: Scope) -> Amount:
        cap = self.caps.get(scope, Cap())
        used = self.spent(scope) + self.reserved(scope)
        tokens = cap.tokens - used.tokens if cap.tokens is not None else 2**62
        usd = cap.usd - used.usd if cap.usd is not None else Decimal("1e18")
        return Amount(tokens, usd)

    def reserve(self, scopes: Sequence[Scope], worst_case: Amount) -> Reservation:
        """Hold `worst_case` at every level, or raise BudgetExhausted naming the first that cannot."""
        with self._lock:
            for scope in scopes:
                left = self.remaining(scope)
                if worst_case.tokens > left.tokens or worst_case.usd > left.usd:
                    raise BudgetExhausted(scope, worst_case, left)
            reservation = Reservation(next(self._ids), tuple(scopes), worst_case)
            self._held[reservation.id] = reservation
            return reservation

    def settle(self, reservation: Reservation, actual: Amount) -> None:
        """Replace the hold by what the provider billed (which may be more or less)."""
        with self._lock:
            self._held.pop(reservation.id, None)
            self._add_spent(reservation.scopes, actual)

    def record_spent(self, scopes: Sequence[Scope], amount: Amount) -> None:
        """Spend that needed no reservation here: calls recorded before a restart."""
        with self._lock:
            self._add_spent(scopes, amount)

    def _add_spent(self, scopes: Sequence[Scope], amount: Amount) -> None:
        for scope in scopes:
            self._spent[scope] = self.spent(scope) + amount

    def release(self, reservation: Reservation) -> None:
        """The call was not billed (never sent, or refused before any token)."""
        with self._lock:
            self._held.pop(reservation.id, None)


def scopes_of(
    run_id: str, tier_id: str | None, phase_id: str | None, attempt: int | None
) -> tuple[Scope, ...]:
    """The levels a call counts against, outermost first."""
    scopes: list[Scope] = [(Level.RUN, run_id)]
    if tier_id is not None:
        scopes.append((Level.TIER, tier_id))
    if phase_id is not None:
        scopes.append((Level.PHASE, phase_id))
        if attempt is not None:
            scopes.append((Level.ATTEMPT, f"{phase_id}#{attempt}"))
    return tuple(scopes)


def restore_spent(ledger: BudgetLedger, calls: Sequence[tuple[tuple[Scope, ...], Amount]]) -> None:
    """After a restart: what the recorded calls already spent counts again, so caps still hold."""
    for scopes, amount in calls:
        ledger.record_spent(scopes, amount)
