"""What an attempt whose spend cannot be reserved call by call may spend in all: the least any
budget level still allows, and no more than the request's own cap."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from autopack.builder.base import BuildRequest
from autopack.llm.budget import Amount, BudgetLedger, Scope

NO_TOKEN_CAP = 2**62
NO_USD_CAP = Decimal("1e18")


def attempt_allowance(
    ledger: BudgetLedger, scopes: Sequence[Scope], request: BuildRequest
) -> Amount:
    remaining = [ledger.remaining(scope) for scope in scopes]
    tokens = min([left.tokens for left in remaining] + [NO_TOKEN_CAP])
    usd = min([left.usd for left in remaining] + [NO_USD_CAP])
    if request.remaining_tokens is not None:
        tokens = min(tokens, request.remaining_tokens)
    if request.remaining_usd is not None:
        usd = min(usd, request.remaining_usd)
    return Amount(tokens=max(tokens, 0), usd=max(usd, Decimal(0)))
