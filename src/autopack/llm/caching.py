"""Provider prompt caching, on by default: what each provider's requests carry so the stable
prefix of a conversation (instructions, tools, the turns so far) is billed at the cache price.

Anthropic caches only at breakpoints the request marks: one after the tool definitions, one after
the instructions, and the automatic one Anthropic moves to the conversation's last block (3 of its
4 slots), each with the alias's TTL. OpenAI caches every repeated prefix of 1,024 tokens or more on
its own; a prompt cache key per conversation routes its requests to the machine holding that prefix.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from autopack.llm.aliases import ModelAlias, Provider

if TYPE_CHECKING:
    from pydantic_ai.models.anthropic import AnthropicModelSettings
    from pydantic_ai.models.openai import OpenAIChatModelSettings


def anthropic_cache_settings(alias: ModelAlias) -> AnthropicModelSettings | None:
    if not alias.prompt_caching:
        return None
    from pydantic_ai.models.anthropic import AnthropicModelSettings

    ttl = alias.cache_ttl
    return AnthropicModelSettings(
        anthropic_cache_tool_definitions=ttl,
        anthropic_cache_instructions=ttl,
        anthropic_cache=ttl,
    )


def openai_cache_settings(
    alias: ModelAlias, cache_key: str | None
) -> OpenAIChatModelSettings | None:
    """A free local server gains nothing from a cache key and may refuse the unknown field."""
    if not alias.prompt_caching or cache_key is None or alias.free:
        return None
    if alias.provider not in (Provider.OPENAI, Provider.OPENAI_COMPATIBLE):
        return None
    from pydantic_ai.models.openai import OpenAIChatModelSettings

    return OpenAIChatModelSettings(openai_prompt_cache_key=cache_key)


def conversation_cache_key(
    run_id: str, role: str, phase_id: str | None, attempt: int | None
) -> str:
    """Stable for one conversation (a role's attempt at a phase) and distinct from every other;
    a digest, so it stays within OpenAI's length limit and names nothing but the conversation."""
    conversation = f"{run_id}|{phase_id or '-'}|{attempt or 0}|{role}"
    return "autopack-" + hashlib.sha256(conversation.encode()).hexdigest()[:32]
