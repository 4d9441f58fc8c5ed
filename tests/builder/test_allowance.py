"""What an attempt that cannot reserve call by call may spend: the tightest level, the request's
own cap, never below zero, and no cap where no level has one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from autopack.builder.allowance import NO_TOKEN_CAP, NO_USD_CAP, attempt_allowance
from autopack.builder.base import BuildRequest
from autopack.llm.budget import Amount, BudgetLedger, Cap, Level, Scope
from autopack.testing.runs import phase_strategy
from autopack.workspace.base import Worktree

RUN: Scope = (Level.RUN, "r")
PHASE: Scope = (Level.PHASE, "p1")


def _request(tokens: int | None = None, usd: str | None = None) -> BuildRequest:
    return BuildRequest(
        phase=phase_strategy(),
        worktree=Worktree(path=Path("/nonexistent"), base_commit="0" * 40),
        attempt=1,
        remaining_tokens=tokens,
        remaining_usd=None if usd is None else Decimal(usd),
    )


def test_the_tightest_level_on_each_axis() -> None:
    ledger = BudgetLedger(
        caps={RUN: Cap(tokens=1_000, usd=Decimal("5")), PHASE: Cap(tokens=5_000, usd=Decimal("2"))}
    )
    assert attempt_allowance(ledger, [RUN, PHASE], _request()) == Amount(1_000, Decimal("2"))


def test_spend_and_holds_come_off_and_the_request_caps_further() -> None:
    ledger = BudgetLedger(caps={RUN: Cap(tokens=1_000, usd=Decimal("5"))})
    ledger.reserve([RUN], Amount(100, Decimal("1")))
    ledger.record_spent([RUN], Amount(200, Decimal("1")))
    assert attempt_allowance(ledger, [RUN], _request()) == Amount(700, Decimal("3"))
    assert attempt_allowance(ledger, [RUN], _request(699, "3")) == Amount(699, Decimal("3"))
    assert attempt_allowance(ledger, [RUN], _request(701, "2.5")) == Amount(700, Decimal("2.5"))


def test_never_below_zero_and_unlimited_without_caps() -> None:
    ledger = BudgetLedger(caps={RUN: Cap(tokens=100, usd=Decimal("1"))})
    ledger.record_spent([RUN], Amount(150, Decimal("2")))
    assert attempt_allowance(ledger, [RUN], _request()) == Amount(0, Decimal(0))
    unlimited = attempt_allowance(BudgetLedger(), [RUN], _request())
    assert unlimited.tokens >= NO_TOKEN_CAP
    assert unlimited.usd >= NO_USD_CAP
    assert attempt_allowance(BudgetLedger(), [], _request()) == Amount(NO_TOKEN_CAP, NO_USD_CAP)
