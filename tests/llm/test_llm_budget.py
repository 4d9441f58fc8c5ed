"""The budget ledger: reserve the worst case at every level, settle what was billed, never overshoot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack.llm.aliases import default_aliases
from autopack.llm.budget import Amount, BudgetExhausted, BudgetLedger, Cap, Level
from autopack.llm.tokens import count_tokens, estimate_input_tokens
from autopack.llm.worst_case import worst_case

RUN = (Level.RUN, "run-1")
TIER = (Level.TIER, "1")
PHASE = (Level.PHASE, "1.1")
PATH = (RUN, TIER, PHASE)


def ledger(run: Cap, tier: Cap, phase: Cap) -> BudgetLedger:
    book = BudgetLedger()
    for scope, cap in zip(PATH, (run, tier, phase), strict=True):
        book.set_cap(scope, cap)
    return book


def test_the_first_level_that_cannot_cover_the_call_is_named() -> None:
    book = ledger(Cap(tokens=10_000), Cap(tokens=1_000), Cap(tokens=5_000))
    with pytest.raises(BudgetExhausted) as caught:
        book.reserve(PATH, Amount(tokens=2_000))
    assert (caught.value.level, caught.value.key) == (Level.TIER, "1")
    assert caught.value.reason_code == "budget.tier"
    assert "tier budget '1'" in str(caught.value)


def test_reservations_count_until_settled_or_released() -> None:
    book = ledger(Cap(usd=Decimal("1.00")), Cap(), Cap())
    held = book.reserve(PATH, Amount(tokens=100, usd=Decimal("0.60")))
    with pytest.raises(BudgetExhausted):
        book.reserve(PATH, Amount(tokens=100, usd=Decimal("0.60")))
    book.settle(held, Amount(tokens=40, usd=Decimal("0.10")))
    assert book.spent(PHASE) == Amount(tokens=40, usd=Decimal("0.10"))
    second = book.reserve(PATH, Amount(tokens=100, usd=Decimal("0.60")))
    book.release(second)
    assert book.remaining(RUN).usd == Decimal("0.90")


@settings(max_examples=200, deadline=None)
@given(
    caps=st.tuples(
        st.integers(1_000, 50_000), st.integers(1_000, 50_000), st.integers(1_000, 50_000)
    ),
    calls=st.lists(
        st.tuples(st.integers(1, 4_000), st.floats(0.0, 1.5), st.sampled_from([True, False])),
        max_size=60,
    ),
)
def test_spend_never_passes_a_cap_by_more_than_one_calls_worst_case(
    caps: tuple[int, int, int], calls: list[tuple[int, float, bool]]
) -> None:
    """Random workloads; actual usage may even exceed the estimate by half (a bad estimate)."""
    book = ledger(*(Cap(tokens=c, usd=Decimal(c) / 1000) for c in caps))
    largest_call = 0
    for worst, ratio, billed in calls:
        amount = Amount(tokens=worst, usd=Decimal(worst) / 1000)
        try:
            held = book.reserve(PATH, amount)
        except BudgetExhausted:
            continue
        actual = int(worst * ratio)
        largest_call = max(largest_call, worst, actual)
        if billed:
            book.settle(held, Amount(tokens=actual, usd=Decimal(actual) / 1000))
        else:
            book.release(held)
    for scope, cap in zip(PATH, caps, strict=True):
        assert book.spent(scope).tokens <= cap + largest_call
        assert book.reserved(scope) == Amount()


def test_token_estimates_are_the_real_o200k_counts_with_a_margin() -> None:
    assert count_tokens("hello world") == 2
    assert estimate_input_tokens(["hello world"]) >= count_tokens("hello world") + 4


def test_worst_case_prices_the_estimate_and_the_output_limit() -> None:
    alias = default_aliases()["anthropic-standard"]
    amount = worst_case(alias, ["Write a function."], max_output_tokens=1_000)
    estimate = estimate_input_tokens(["Write a function."])
    assert amount.tokens == estimate + 1_000
    # Caching is on by default: the worst case writes every input token at the write premium.
    assert amount.usd == alias.cost_usd(estimate, 0, 1_000, cache_write_tokens=estimate)
    assert amount.usd > alias.cost_usd(estimate, 0, 1_000)
    uncached = alias.model_copy(update={"prompt_caching": False})
    assert worst_case(uncached, ["Write a function."], 1_000).usd == alias.cost_usd(
        estimate, 0, 1_000
    )
    assert worst_case(default_aliases()["local"], ["x"]).usd == Decimal(0)


CACHING_ALIASES = [
    default_aliases()["anthropic-top"],
    default_aliases()["anthropic-fast"].model_copy(
        update={"cache_ttl": "1h", "price_cache_write_per_mtok": None}
    ),
    default_aliases()["openai-standard"],
]


@settings(max_examples=200, deadline=None)
@given(
    alias_index=st.integers(0, len(CACHING_ALIASES) - 1),
    cap_usd=st.integers(1, 200),
    calls=st.lists(
        st.tuples(
            st.integers(1, 3_000),  # prompt words
            st.integers(1, 4_000),  # output tokens asked for
            st.floats(0.0, 1.0),  # share of the prompt read from the cache
            st.floats(0.0, 1.0),  # share of the rest written to it
        ),
        max_size=40,
    ),
)
def test_cache_aware_spend_never_passes_a_cap_by_more_than_one_calls_worst_case(
    alias_index: int, cap_usd: int, calls: list[tuple[int, int, float, float]]
) -> None:
    """Through the real worst_case and cost_usd: whatever a provider reads from and writes to its
    cache, a call costs at most its reservation, so spend passes a cap by at most one worst case."""
    alias = CACHING_ALIASES[alias_index]
    cap = Cap(tokens=10**9, usd=Decimal(cap_usd) / 100)
    book = ledger(cap, cap, cap)
    largest = Decimal(0)
    for words, max_output, read_share, write_share in calls:
        prompt = " ".join(["token"] * words)
        reservation = worst_case(alias, [prompt], max_output)
        try:
            held = book.reserve(PATH, reservation)
        except BudgetExhausted:
            continue
        sent = count_tokens(prompt) + 4
        read = int(sent * read_share)
        written = int((sent - read) * write_share)
        cost = alias.cost_usd(sent, read, min(max_output, alias.max_output_tokens), written)
        assert cost <= reservation.usd
        largest = max(largest, reservation.usd)
        book.settle(held, Amount(tokens=sent, usd=cost))
    for scope in PATH:
        assert book.spent(scope).usd <= cap.usd + largest
