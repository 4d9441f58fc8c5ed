"""Retries, circuit breakers and fallback chains around budgeted models.

Rate limits, server errors, timeouts and unreadable answers are retried with exponential backoff
and jitter (a provider's Retry-After wins), within a bounded total wait. Invalid keys, exhausted
quota and unknown models are not retried: the provider's breaker opens and the next alias of the
fallback chain takes over. Every retry and breaker is reported as an event, never silent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelQuotaExceededError,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.errors import AutopackError
from autopack.llm.budgeted import BudgetedModel

TERMINAL = (ModelAuthenticationError, ModelQuotaExceededError, ModelNotFoundError)
RETRYABLE = (ModelAPIError, UnexpectedModelBehavior)


class ProviderUnavailable(AutopackError):
    """No alias of the chain could answer; names each provider and what it said."""

    reason_code = "environment.provider"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total_wait: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to the exponential ceiling."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class LLMEvent:
    kind: str  # "retry", "breaker_open", "fallback", "gave_up"
    alias: str
    detail: str
    wait_seconds: float = 0.0


@dataclass
class CircuitBreakers:
    """Providers that answered with a terminal error stay closed for the rest of the run."""

    open: dict[str, str] = field(default_factory=dict)


def retry_after(error: BaseException) -> float | None:
    """The provider's own wait, from the error or its `retry-after(-ms)` header (seconds or HTTP date)."""
    if not isinstance(error, ModelHTTPError):
        return None
    if error.retry_after is not None:
        return error.retry_after
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    if "retry-after-ms" in headers:
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


class ResilientModel(WrapperModel):
    def __init__(
        self,
        chain: Sequence[BudgetedModel],
        *,
        breakers: CircuitBreakers,
        policy: RetryPolicy = RetryPolicy(),
        on_event: Callable[[LLMEvent], None] = lambda event: None,
        rng: random.Random | None = None,
    ):
        if not chain:
            raise ValueError("a resilient model needs at least one alias")
        super().__init__(chain[0])
        self.chain = tuple(chain)
        self.breakers = breakers
        self.policy = policy
        self.on_event = on_event
        self.rng = rng or random.Random()

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        failures: list[str] = []
        for position, candidate in enumerate(self.chain):
            provider = candidate.alias.provider.value
            if provider in self.breakers.open:
                failures.append(
                    f"{candidate.alias_name} ({provider}): breaker open after {self.breakers.open[provider]}"
                )
                continue
            if position > 0:
                self.on_event(LLMEvent("fallback", candidate.alias_name, f"after {failures[-1]}"))
            try:
                return await self._with_retries(
                    candidate, messages, model_settings, model_request_parameters
                )
            except TERMINAL as error:
                self.breakers.open[provider] = _describe(error)
                self.on_event(LLMEvent("breaker_open", candidate.alias_name, _describe(error)))
                failures.append(f"{candidate.alias_name} ({provider}): {_describe(error)}")
            except RETRYABLE as error:
                failures.append(
                    f"{candidate.alias_name} ({provider}): gave up after retries: {_describe(error)}"
                )
        raise ProviderUnavailable("no model could answer: " + "; ".join(failures))

    async def _with_retries(
        self,
        candidate: BudgetedModel,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        waited = 0.0
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                return await candidate.request(messages, model_settings, model_request_parameters)
            except TERMINAL:
                raise
            except RETRYABLE as error:
                hinted = retry_after(error)
                delay = hinted if hinted is not None else self.policy.backoff(attempt, self.rng)
                if (
                    attempt == self.policy.max_attempts
                    or waited + delay > self.policy.max_total_wait
                ):
                    self.on_event(LLMEvent("gave_up", candidate.alias_name, _describe(error)))
                    raise
                self.on_event(
                    LLMEvent("retry", candidate.alias_name, _describe(error), wait_seconds=delay)
                )
                started = time.monotonic()
                await asyncio.sleep(delay)
                waited += time.monotonic() - started
        raise AssertionError("unreachable: the loop returns or raises")
