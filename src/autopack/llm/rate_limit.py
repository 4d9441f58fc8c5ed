"""A provider's rate limit, kept by every caller of it: each request waits for a permit first.

Where permits come from is the caller's to say (run/provider_queues.py: a DBOS queue shared by
every process on one database), so twenty workers calling one provider start at most its limit
of requests in any window instead of meeting it as a storm of 429s. Retries of a request ask
again: a retry is a request the provider counts.
"""

from __future__ import annotations

from typing import Protocol

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.llm.aliases import Provider


class Permits(Protocol):
    def limits(self, provider: Provider) -> bool:
        """Whether calls to `provider` wait for a permit at all."""
        ...

    async def acquire(self, provider: Provider) -> None:
        """Return when one more request to `provider` keeps within its limit."""
        ...


class RateLimitedModel(WrapperModel):
    def __init__(self, wrapped: Model, *, provider: Provider, permits: Permits):
        super().__init__(wrapped)
        self.limited_provider = provider
        self.permits = permits

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        await self.permits.acquire(self.limited_provider)
        return await self.wrapped.request(messages, model_settings, model_request_parameters)


def rate_limited(model: Model, provider: Provider, permits: Permits | None) -> Model:
    """`model`, waiting for permits when its provider is limited."""
    if permits is None or not permits.limits(provider):
        return model
    return RateLimitedModel(model, provider=provider, permits=permits)
