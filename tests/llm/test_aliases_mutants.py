"""The shipped model aliases are the ones docs/llm.md documents, with the key variables and the
windows that size each call's reservation; free models cost nothing. Written for mutation testing
(bench/mutation.py), which found the shipped table untested."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from autopack.llm.aliases import ModelAlias, Provider, default_aliases

DOCS = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def documented_aliases() -> dict[str, tuple[str, str, str]]:
    """alias -> (model, prices, fallback) as the table in docs/llm.md shows them."""
    rows: dict[str, tuple[str, str, str]] = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] and cells[0] not in ("alias",) and "---" not in cells[0]:
            rows[cells[0]] = (cells[1], cells[2], cells[3])
    return rows


def shown(alias: ModelAlias) -> tuple[str, str, str]:
    """An alias in the documentation's words."""
    if alias.free:
        return f"{alias.model} at {alias.base_url}", "free", "—"
    prices = (
        alias.price_input_per_mtok,
        alias.price_cached_input_per_mtok,
        alias.price_cache_write_per_mtok,
        alias.price_output_per_mtok,
    )
    shown_prices = " / ".join("—" if price is None else str(price) for price in prices)
    return alias.model, shown_prices, ", ".join(alias.fallbacks)


def test_the_shipped_aliases_are_the_documented_ones() -> None:
    documented = documented_aliases()
    assert len(documented) == 7
    assert {name: shown(alias) for name, alias in default_aliases().items()} == documented


def test_each_shipped_alias_reads_its_providers_key_and_sizes_calls_by_its_window() -> None:
    aliases = default_aliases()
    # (provider, api_key_env, context_window, max_output_tokens): the output limit is what each
    # call reserves for its answer, the window what its prompt may fill.
    expected = {
        "anthropic-top": (Provider.ANTHROPIC, "ANTHROPIC_API_KEY", 1_000_000, 64_000),
        "anthropic-standard": (Provider.ANTHROPIC, "ANTHROPIC_API_KEY", 1_000_000, 64_000),
        "anthropic-fast": (Provider.ANTHROPIC, "ANTHROPIC_API_KEY", 1_000_000, 64_000),
        "openai-top": (Provider.OPENAI, "OPENAI_API_KEY", 1_050_000, 128_000),
        "openai-standard": (Provider.OPENAI, "OPENAI_API_KEY", 1_050_000, 128_000),
        "openai-fast": (Provider.OPENAI, "OPENAI_API_KEY", 1_050_000, 128_000),
        "local": (Provider.OPENAI_COMPATIBLE, None, 32_768, 8_192),
    }
    assert {
        name: (alias.provider, alias.api_key_env, alias.context_window, alias.max_output_tokens)
        for name, alias in aliases.items()
    } == expected


def test_a_free_model_costs_nothing_even_with_prices_set() -> None:
    assert default_aliases()["local"].cost_usd(1_000_000, 0, 1_000_000) == Decimal(0)
    priced_but_free = ModelAlias(
        provider=Provider.OPENAI,
        model="m",
        free=True,
        price_input_per_mtok=Decimal(2),
        price_output_per_mtok=Decimal(4),
    )
    assert priced_but_free.cost_usd(1_000_000, 0, 1_000_000) == Decimal(0)
