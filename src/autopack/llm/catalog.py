"""What `autopack models` shows: each alias, what it resolves to, its prices, whether its key is set."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from autopack.config import Settings


class AliasView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str
    provider: str
    model: str
    base_url: str | None
    free: bool
    price_input_per_mtok: Decimal | None
    price_cached_input_per_mtok: Decimal | None
    price_output_per_mtok: Decimal | None
    api_key_env: str | None
    # Only whether the variable is set: the key itself never leaves the environment.
    key_present: bool
    fallbacks: tuple[str, ...]
    levels: tuple[str, ...]


def describe_aliases(settings: Settings, env: Mapping[str, str]) -> list[AliasView]:
    routing = settings.routing
    levels = {"top": routing.top, "standard": routing.standard, "fast": routing.fast}
    views = []
    for name, alias in sorted(settings.aliases.items()):
        views.append(
            AliasView(
                alias=name,
                provider=alias.provider.value,
                model=alias.model,
                base_url=alias.base_url,
                free=alias.free,
                price_input_per_mtok=alias.price_input_per_mtok,
                price_cached_input_per_mtok=alias.price_cached_input_per_mtok,
                price_output_per_mtok=alias.price_output_per_mtok,
                api_key_env=alias.api_key_env,
                key_present=bool(alias.api_key_env and env.get(alias.api_key_env)),
                fallbacks=alias.fallbacks,
                levels=tuple(level for level, target in levels.items() if target == name),
            )
        )
    return views
