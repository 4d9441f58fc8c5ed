"""Model aliases: what each alias resolves to (provider, model, endpoint, key variable, window) and
what it costs, and the aliases Autopack ships with their list prices."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    # Any server that speaks the OpenAI API: Ollama, vLLM, LM Studio, a gateway.
    OPENAI_COMPATIBLE = "openai_compatible"


MILLION = Decimal(1_000_000)
CacheTTL = Literal["5m", "1h"]
# Anthropic bills a cache write at these multiples of the input price, by the entry's lifetime;
# OpenAI bills none (a written prefix costs what input costs).
ANTHROPIC_WRITE_MULTIPLIER: dict[str, Decimal] = {"5m": Decimal("1.25"), "1h": Decimal("2")}


# The variable a provider's own SDK reads its key from, for an alias that names none.
DEFAULT_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class ModelAlias(BaseModel):
    """What an alias resolves to and what it costs. The key never appears here, only its variable's name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    # USD per million tokens; a model that is not free must have input and output prices.
    price_input_per_mtok: Decimal | None = Field(default=None, ge=0)
    price_cached_input_per_mtok: Decimal | None = Field(default=None, ge=0)
    # What a cache write costs at this alias's cache_ttl; unset, the provider's rule from the input
    # price (Anthropic 1.25x for 5m, 2x for 1h; others bill writes as input).
    price_cache_write_per_mtok: Decimal | None = Field(default=None, ge=0)
    price_output_per_mtok: Decimal | None = Field(default=None, ge=0)
    # Prompt caching: breakpoints (Anthropic) or a prompt cache key (OpenAI) on every request.
    prompt_caching: bool = True
    # How long Anthropic keeps what a request writes to its cache.
    cache_ttl: CacheTTL = "5m"
    free: bool = False
    context_window: int = Field(default=128_000, gt=0)
    max_output_tokens: int = Field(default=8_192, gt=0)
    fallbacks: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _providers_key_variable_by_default(cls, data: object) -> object:
        """An OpenAI or Anthropic alias without `api_key_env` reads the provider's usual variable:
        left unset, the run's key check passed it and its first call failed mid-run."""
        if isinstance(data, dict) and data.get("api_key_env") is None:
            variable = DEFAULT_KEY_VARIABLES.get(str(data.get("provider")))
            if variable is not None:
                return {**data, "api_key_env": variable}
        return data

    @model_validator(mode="after")
    def _compatible_servers_need_a_url(self) -> ModelAlias:
        if self.provider is Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValueError("provider openai_compatible needs base_url")
        return self

    @model_validator(mode="after")
    def _paid_models_need_prices(self) -> ModelAlias:
        if not self.free and (
            self.price_input_per_mtok is None or self.price_output_per_mtok is None
        ):
            raise ValueError(
                f"model {self.model} has no price: set price_input_per_mtok and price_output_per_mtok "
                "(USD per million tokens), or free = true for a local model"
            )
        return self

    def cache_write_price(self) -> Decimal | None:
        """USD per million tokens written to the provider's cache (None for a free model)."""
        if self.price_cache_write_per_mtok is not None:
            return self.price_cache_write_per_mtok
        if self.price_input_per_mtok is None:
            return None
        if self.provider is Provider.ANTHROPIC:
            return self.price_input_per_mtok * ANTHROPIC_WRITE_MULTIPLIER[self.cache_ttl]
        return self.price_input_per_mtok

    def cost_usd(
        self,
        input_tokens: int,
        cached_input_tokens: int,
        output_tokens: int,
        cache_write_tokens: int = 0,
    ) -> Decimal:
        """What the provider bills for this usage. input_tokens is the whole prompt, cache reads and
        writes included (pydantic-ai's RequestUsage convention for every provider); each part is
        priced at its own rate, cached input falling back to the input price."""
        price_in, price_out = self.price_input_per_mtok, self.price_output_per_mtok
        write_price = self.cache_write_price()
        # The validator guarantees prices on every model that is not free.
        if self.free or price_in is None or price_out is None or write_price is None:
            return Decimal(0)
        cached_price = self.price_cached_input_per_mtok
        if cached_price is None:
            cached_price = price_in
        fresh = max(input_tokens - cached_input_tokens - cache_write_tokens, 0)
        total = (
            fresh * price_in + cached_input_tokens * cached_price + cache_write_tokens * write_price
        )
        return ((total + output_tokens * price_out) / MILLION).quantize(Decimal("0.000001"))


def _priced(
    provider: Provider, model: str, prices: tuple[str, str, str], window: int, output: int
) -> ModelAlias:
    anthropic = provider is Provider.ANTHROPIC
    key = "ANTHROPIC_API_KEY" if anthropic else "OPENAI_API_KEY"
    price_in, price_cached, price_out = (Decimal(p) for p in prices)
    # Anthropic's list price for a 5-minute cache write; OpenAI bills no write premium.
    write = (price_in * ANTHROPIC_WRITE_MULTIPLIER["5m"]).normalize() if anthropic else None
    return ModelAlias(
        provider=provider,
        model=model,
        api_key_env=key,
        price_input_per_mtok=price_in,
        price_cached_input_per_mtok=price_cached,
        price_cache_write_per_mtok=write,
        price_output_per_mtok=price_out,
        context_window=window,
        max_output_tokens=output,
    )


def default_aliases() -> dict[str, ModelAlias]:
    """Shipped aliases with list prices (USD per million tokens: input, cached input, output),
    as published in November 2026 (base tier; long-context tiers cost more)."""
    anthropic, openai = Provider.ANTHROPIC, Provider.OPENAI
    aliases = {
        "anthropic-top": _priced(
            anthropic, "claude-opus-5-5", ("4", "0.20", "20"), 1_000_000, 64_000
        ),
        "anthropic-standard": _priced(
            anthropic, "claude-sonnet-5-5", ("2", "0.10", "10"), 1_000_000, 64_000
        ),
        "anthropic-fast": _priced(
            anthropic, "claude-haiku-5-5", ("0.10", "0.01", "0.50"), 1_000_000, 64_000
        ),
        "openai-top": _priced(openai, "gpt-6-astra", ("10", "1", "50"), 1_050_000, 128_000),
        "openai-standard": _priced(openai, "gpt-6.1-sol", ("2", "0.10", "10"), 1_050_000, 128_000),
        "openai-fast": _priced(openai, "gpt-6-luna", ("0.10", "0.01", "0.50"), 1_050_000, 128_000),
        "local": ModelAlias(
            provider=Provider.OPENAI_COMPATIBLE,
            model="qwen2.5-coder:14b",
            base_url="http://127.0.0.1:11434/v1",
            free=True,
            context_window=32_768,
            max_output_tokens=8_192,
        ),
    }
    # Each family falls back across providers, so one provider's outage does not end a run.
    fallbacks = {
        "anthropic-top": ("openai-top",),
        "anthropic-standard": ("openai-standard",),
        "anthropic-fast": ("openai-fast",),
        "openai-top": ("anthropic-top",),
        "openai-standard": ("anthropic-standard",),
        "openai-fast": ("anthropic-fast",),
    }
    return {
        name: alias.model_copy(update={"fallbacks": fallbacks.get(name, ())})
        for name, alias in aliases.items()
    }
