"""Model aliases carry prices; a paid model without one is refused at start-up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.errors import ConfigError
from autopack.llm.aliases import ModelAlias, Provider, default_aliases


def test_every_shipped_paid_alias_has_prices_and_fallbacks_that_exist() -> None:
    aliases = default_aliases()
    for name, alias in aliases.items():
        assert alias.free or alias.price_output_per_mtok is not None, name
        assert all(fallback in aliases for fallback in alias.fallbacks), name


def test_cost_uses_cached_and_output_prices() -> None:
    alias = default_aliases()["anthropic-standard"]  # $2 in, $0.10 cached, $10 out per million
    assert alias.cost_usd(1_000_000, 0, 0) == Decimal("2")
    # 500k fresh input at $2, 500k cached at $0.10, 100k output at $10
    assert alias.cost_usd(1_000_000, 500_000, 100_000) == Decimal("1") + Decimal("0.05") + Decimal(
        "1"
    )


def test_cost_prices_fresh_input_cache_reads_and_cache_writes_each_at_its_rate() -> None:
    alias = default_aliases()["anthropic-standard"]  # $2 in, $0.10 read, $2.50 write, $10 out
    assert alias.price_cache_write_per_mtok == Decimal("2.5")
    # 1M prompt tokens: 400k fresh, 500k read from the cache, 100k written to it; 10k output.
    cost = alias.cost_usd(1_000_000, 500_000, 10_000, cache_write_tokens=100_000)
    assert cost == Decimal("0.8") + Decimal("0.05") + Decimal("0.25") + Decimal("0.1")


def test_cache_write_price_follows_the_providers_rule_when_unset() -> None:
    def alias(provider: Provider, ttl: str) -> ModelAlias:
        return ModelAlias.model_validate(
            {
                "provider": provider,
                "model": "m",
                "price_input_per_mtok": "4",
                "price_output_per_mtok": "8",
                "cache_ttl": ttl,
            }
        )

    assert alias(Provider.ANTHROPIC, "5m").cache_write_price() == Decimal("5")
    assert alias(Provider.ANTHROPIC, "1h").cache_write_price() == Decimal("8")
    assert alias(Provider.OPENAI, "5m").cache_write_price() == Decimal("4")


def test_a_shipped_alias_given_a_longer_ttl_gets_that_ttls_write_price(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text('[models.aliases.anthropic-top]\ncache_ttl = "1h"\n')
    alias = load_settings(tmp_path).aliases["anthropic-top"]
    assert alias.cache_ttl == "1h"
    assert alias.cache_write_price() == Decimal("8")  # 2x the $4 input price


def test_a_cache_ttl_anthropic_does_not_offer_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text('[models.aliases.anthropic-top]\ncache_ttl = "2h"\n')
    with pytest.raises(ConfigError, match="cache_ttl"):
        load_settings(tmp_path)


def test_cached_price_defaults_to_the_input_price() -> None:
    alias = ModelAlias(
        provider=Provider.OPENAI,
        model="m",
        price_input_per_mtok=Decimal(2),
        price_output_per_mtok=Decimal(4),
    )
    assert alias.cost_usd(1_000, 1_000, 0) == Decimal("0.002")


def test_paid_model_without_price_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text(
        '[models.aliases.cheap]\nprovider = "openai"\nmodel = "gpt-x"\n'
    )
    with pytest.raises(ConfigError, match="model gpt-x has no price"):
        load_settings(tmp_path)


def test_fallback_to_an_unknown_alias_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text(
        '[models.aliases.mine]\nprovider = "openai_compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'free = true\nfallbacks = ["ghost"]\n'
    )
    with pytest.raises(ConfigError, match="unknown model aliases: ghost"):
        load_settings(tmp_path)
