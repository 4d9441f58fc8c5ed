"""A model alias turned into a pydantic-ai model talking to its provider (or any OpenAI-compatible server)."""

from __future__ import annotations

from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from autopack.errors import ConfigError
from autopack.strategy.routing import ModelAlias, Provider


def build_model(name: str, alias: ModelAlias, api_key: str | None) -> Model:
    if alias.provider is Provider.ANTHROPIC:
        if not api_key:
            raise ConfigError(f"model alias {name} needs an API key in ${alias.api_key_env}")
        return AnthropicModel(
            alias.model, provider=AnthropicProvider(api_key=api_key, base_url=alias.base_url)
        )
    if alias.provider is Provider.OPENAI and not api_key:
        raise ConfigError(f"model alias {name} needs an API key in ${alias.api_key_env}")
    # Local OpenAI-compatible servers usually ignore the key, but the client insists on one.
    provider = OpenAIProvider(base_url=alias.base_url, api_key=api_key or "not-needed")
    return OpenAIChatModel(alias.model, provider=provider)
