"""A model alias turned into a pydantic-ai model talking to its provider (or any OpenAI-compatible server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autopack.errors import ConfigError
from autopack.llm.aliases import ModelAlias, Provider

if TYPE_CHECKING:
    from pydantic_ai.models import Model


def build_model(
    name: str,
    alias: ModelAlias,
    api_key: str | None,
    *,
    timeout: float = 120.0,
    cache_key: str | None = None,
) -> Model:
    """SDK clients never retry on their own: ResilientModel does, so every retry is seen and counted.

    Prompt caching is set on the model itself (its own settings are merged into every request it
    sends, whoever calls it): see caching.py. `cache_key` names the conversation for OpenAI's cache
    routing.

    Each provider's SDK is imported when a model of it is built: a run routed to one provider
    never pays for importing the other's (over a second of CPU for each process that drives one).
    """
    from autopack.llm.caching import anthropic_cache_settings, openai_cache_settings

    if alias.provider is Provider.ANTHROPIC:
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        if not api_key:
            raise ConfigError(f"model alias {name} needs an API key in ${alias.api_key_env}")
        anthropic_client = AsyncAnthropic(
            api_key=api_key, base_url=alias.base_url, max_retries=0, timeout=timeout
        )
        return AnthropicModel(
            alias.model,
            provider=AnthropicProvider(anthropic_client=anthropic_client),
            settings=anthropic_cache_settings(alias),
        )
    if alias.provider is Provider.OPENAI and not api_key:
        raise ConfigError(f"model alias {name} needs an API key in ${alias.api_key_env}")
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    # Local OpenAI-compatible servers usually ignore the key, but the client insists on one.
    openai_client = AsyncOpenAI(
        base_url=alias.base_url, api_key=api_key or "not-needed", max_retries=0, timeout=timeout
    )
    return OpenAIChatModel(
        alias.model,
        provider=OpenAIProvider(openai_client=openai_client),
        settings=openai_cache_settings(alias, cache_key),
    )
