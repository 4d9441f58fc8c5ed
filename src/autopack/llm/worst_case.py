"""The most a call can cost, from its prompt and its model's output limit: what gets reserved."""

from __future__ import annotations

from autopack.llm.aliases import ModelAlias
from autopack.llm.budget import Amount
from autopack.llm.tokens import estimate_input_tokens


def worst_case(
    alias: ModelAlias, messages: list[str], max_output_tokens: int | None = None
) -> Amount:
    """With prompt caching the worst case is every input token written to the cache, at the write
    price (above the input price on Anthropic); a cache read only ever makes it cheaper."""
    output = min(max_output_tokens or alias.max_output_tokens, alias.max_output_tokens)
    input_tokens = estimate_input_tokens(messages)
    written = input_tokens if alias.prompt_caching else 0
    usd = max(
        alias.cost_usd(input_tokens, 0, output),
        alias.cost_usd(input_tokens, 0, output, cache_write_tokens=written),
    )
    return Amount(tokens=input_tokens + output, usd=usd)
