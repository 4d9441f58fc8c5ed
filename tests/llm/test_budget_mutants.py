"""The budget ledger's edges that mutation testing (bench/mutation.py) found untested: exact fits,
uncapped levels, reservations held side by side, repeated settles, and restoring spend after a
restart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autopack.llm.budget import (
    Amount,
    BudgetExhausted,
    BudgetLedger,
    Cap,
    Level,
    restore_spent,
    scopes_of,
)

RUN = (Level.RUN, "run-1")
PHASE = (Level.PHASE, "1.1")


def test_amounts_subtract_on_both_axes() -> None:
    left = Amount(tokens=100, usd=Decimal("1.50")) - Amount(tokens=30, usd=Decimal("0.25"))
    assert left == Amount(tokens=70, usd=Decimal("1.25"))


def test_a_call_that_exactly_fits_what_is_left_is_reserved() -> None:
    book = BudgetLedger()
    book.set_cap(RUN, Cap(tokens=1_000, usd=Decimal("1.00")))
    book.reserve([RUN], Amount(tokens=1_000, usd=Decimal("1.00")))
    assert book.remaining(RUN) == Amount(tokens=0, usd=Decimal("0.00"))


def test_a_level_without_a_cap_lets_any_real_call_through() -> None:
    book = BudgetLedger()
    book.reserve([RUN], Amount(tokens=10_000_000, usd=Decimal("1000")))
    left = book.remaining(RUN)
    # Unlimited is a large number that still fits a signed 64-bit column and a CLI's token flag.
    assert 10**12 < left.tokens < 2**63
    assert left.usd > Decimal("1e15")


def test_remaining_is_the_cap_less_what_was_spent_and_what_is_held() -> None:
    book = BudgetLedger()
    book.set_cap(RUN, Cap(tokens=1_000, usd=Decimal("2.00")))
    book.settle(
        book.reserve([RUN], Amount(tokens=500, usd=Decimal("1"))), Amount(300, Decimal("0.5"))
    )
    book.reserve([RUN], Amount(tokens=200, usd=Decimal("0.25")))
    assert book.remaining(RUN) == Amount(tokens=500, usd=Decimal("1.25"))


def test_reservations_held_side_by_side_all_count() -> None:
    book = BudgetLedger()
    first = book.reserve([RUN], Amount(tokens=100))
    second = book.reserve([RUN], Amount(tokens=200))
    assert first.id != second.id
    assert book.reserved(RUN) == Amount(tokens=300)
    book.release(first)
    assert book.reserved(RUN) == Amount(tokens=200)


def test_settled_calls_add_up() -> None:
    book = BudgetLedger()
    for _ in range(3):
        book.settle(book.reserve([RUN, PHASE], Amount(tokens=50)), Amount(10, Decimal("0.01")))
    assert book.spent(RUN) == Amount(tokens=30, usd=Decimal("0.03"))
    assert book.spent(PHASE) == Amount(tokens=30, usd=Decimal("0.03"))


def test_settling_or_releasing_a_reservation_again_is_harmless() -> None:
    """A call's cleanup may run after its settle (a retry wrapper, a cancelled task)."""
    book = BudgetLedger()
    held = book.reserve([RUN], Amount(tokens=100))
    book.settle(held, Amount(tokens=80))
    book.release(held)
    book.settle(held, Amount(tokens=0))
    other = book.reserve([RUN], Amount(tokens=5))
    book.release(other)
    book.release(other)
    assert book.spent(RUN) == Amount(tokens=80)
    assert book.reserved(RUN) == Amount()


def test_the_refusal_carries_what_was_needed_and_what_was_left() -> None:
    book = BudgetLedger()
    book.set_cap(RUN, Cap(tokens=1_000, usd=Decimal("1.00")))
    book.settle(book.reserve([RUN], Amount(tokens=1_000)), Amount(1_000, Decimal("1.00")))
    with pytest.raises(BudgetExhausted) as caught:
        book.reserve([RUN], Amount(tokens=10, usd=Decimal("0.01")))
    assert caught.value.needed == Amount(tokens=10, usd=Decimal("0.01"))
    assert caught.value.remaining == Amount(tokens=0, usd=Decimal("0.00"))
    assert "0 tokens / $0.0000 remain" in str(caught.value)


def test_an_overspent_level_reports_nothing_left_not_a_negative_amount() -> None:
    book = BudgetLedger()
    book.set_cap(RUN, Cap(tokens=100, usd=Decimal("0.10")))
    book.settle(book.reserve([RUN], Amount(tokens=100)), Amount(150, Decimal("0.20")))
    with pytest.raises(BudgetExhausted) as caught:
        book.reserve([RUN], Amount(tokens=1))
    assert "0 tokens / $0.0000 remain" in str(caught.value)


def test_a_call_counts_against_run_tier_phase_and_attempt_outermost_first() -> None:
    assert scopes_of("r", "t1", "p1", 2) == (
        (Level.RUN, "r"),
        (Level.TIER, "t1"),
        (Level.PHASE, "p1"),
        (Level.ATTEMPT, "p1#2"),
    )


def test_a_call_outside_a_tier_phase_or_attempt_counts_only_where_it_belongs() -> None:
    assert scopes_of("r", None, None, None) == ((Level.RUN, "r"),)
    assert scopes_of("r", None, "p1", None) == ((Level.RUN, "r"), (Level.PHASE, "p1"))
    # An attempt number without a phase names no attempt scope.
    assert scopes_of("r", "t1", None, 3) == ((Level.RUN, "r"), (Level.TIER, "t1"))


def test_restored_spend_counts_against_the_caps_after_a_restart() -> None:
    book = BudgetLedger()
    book.set_cap(RUN, Cap(tokens=1_000))
    restore_spent(
        book,
        [
            (scopes_of("run-1", None, "1.1", 1), Amount(600, Decimal("0.6"))),
            (scopes_of("run-1", None, "1.1", 2), Amount(300, Decimal("0.3"))),
        ],
    )
    assert book.spent(RUN) == Amount(tokens=900, usd=Decimal("0.9"))
    assert book.spent(PHASE) == Amount(tokens=900, usd=Decimal("0.9"))
    assert book.spent((Level.ATTEMPT, "1.1#2")) == Amount(tokens=300, usd=Decimal("0.3"))
    with pytest.raises(BudgetExhausted):
        book.reserve([RUN], Amount(tokens=101))
