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
