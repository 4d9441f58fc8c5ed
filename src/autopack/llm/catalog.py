"""What `autopack models` shows: each alias, what it resolves to, its prices, whether its key is set,
and with --check whether a tiny real call through it works."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from autopack.config import Settings
from autopack.errors import ConfigError
from autopack.llm.keys import api_key, redactor_for


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


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str
    ok: bool
    detail: str
    seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: Decimal = Decimal(0)


def check_aliases(
    settings: Settings, env: Mapping[str, str], only: Sequence[str] = ()
) -> list[CheckResult]:
    """One tiny real call per alias (a few tokens each), to prove keys, URLs and model names work."""
    # The SDKs take seconds to import; only a check needs them, so every other command stays quick.
    from pydantic_ai import Agent

    from autopack.llm.providers import build_model

    unknown = sorted(set(only) - set(settings.aliases))
    if unknown:
        raise ConfigError(
            f"unknown model aliases: {', '.join(unknown)} (known: {', '.join(sorted(settings.aliases))})"
        )
    results = []
    for name, alias in sorted(settings.aliases.items()):
        if only and name not in only:
            continue
        key = api_key(alias, env)
        if alias.api_key_env and not key:
            results.append(
                CheckResult(alias=name, ok=False, detail=f"no key: ${alias.api_key_env} is not set")
            )
            continue
        started = time.monotonic()
        try:
            agent: Agent[None, str] = Agent(build_model(name, alias, key, timeout=30.0))
            run = agent.run_sync("Reply with the word OK.", model_settings={"max_tokens": 8})
        except Exception as error:
            detail = redactor_for(settings.aliases, env).text(f"{type(error).__name__}: {error}")[
                :300
            ]
            results.append(
                CheckResult(
                    alias=name,
                    ok=False,
                    detail=detail,
                    seconds=round(time.monotonic() - started, 3),
                )
            )
            continue
        usage = run.usage
        results.append(
            CheckResult(
                alias=name,
                ok=True,
                detail=f"answered {str(run.output)[:40]!r}",
                seconds=round(time.monotonic() - started, 3),
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                usd=alias.cost_usd(
                    usage.input_tokens, usage.cache_read_tokens, usage.output_tokens
                ),
            )
        )
    return results
