"""Every model request of every agent passes here: reserve its worst case, call, settle, record.

A pydantic-ai wrapper model, so Builders, Auditors and the planner are budgeted alike without
knowing it. A request no level can cover is never sent (BudgetExhausted); a request that fails
is released unbilled and recorded as an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.domain.vocabulary import Role
from autopack.llm.budget import Amount, BudgetLedger, Scope
from autopack.llm.worst_case import worst_case
from autopack.store.ledger import LlmCallRecord
from autopack.strategy.routing import ModelAlias


class CallRecorder(Protocol):
    def record(self, call: LlmCallRecord) -> None: ...


class CallContext(Protocol):
    run_id: str
    tier_id: str | None
    phase_id: str | None
    attempt: int | None
    role: Role


def request_texts(messages: list[ModelMessage], parameters: ModelRequestParameters) -> list[str]:
    """The text a request sends: message parts and tool schemas, for the worst-case estimate."""
    texts = []
    for message in messages:
        for part in message.parts:
            content = getattr(part, "content", None) or getattr(part, "args", None)
            if content is not None:
                texts.append(
                    content if isinstance(content, str) else json.dumps(content, default=str)
                )
    for tool in parameters.function_tools:
        texts.append(
            json.dumps(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "schema": tool.parameters_json_schema,
                }
            )
        )
    return texts


class BudgetedModel(WrapperModel):
    def __init__(
        self,
        wrapped: Model,
        *,
        alias_name: str,
        alias: ModelAlias,
        ledger: BudgetLedger,
        scopes: Sequence[Scope],
        context: CallContext,
        recorder: CallRecorder,
    ):
        super().__init__(wrapped)
        self.alias_name = alias_name
        self.alias = alias
        self.ledger = ledger
        self.scopes = tuple(scopes)
        self.context = context
        self.recorder = recorder

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        max_tokens = (model_settings or {}).get("max_tokens")
        worst = worst_case(
            self.alias, request_texts(messages, model_request_parameters), max_tokens
        )
        reservation = self.ledger.reserve(self.scopes, worst)
        started = time.monotonic()
        try:
            response = await self.wrapped.request(
                messages, model_settings, model_request_parameters
            )
        except BaseException:
            self.ledger.release(reservation)
            self._record(Amount(), 0, 0, 0, started, "error")
            raise
        usage = response.usage
        cost = self.alias.cost_usd(usage.input_tokens, usage.cache_read_tokens, usage.output_tokens)
        actual = Amount(tokens=usage.input_tokens + usage.output_tokens, usd=cost)
        self.ledger.settle(reservation, actual)
        self._record(
            actual, usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, started, "ok"
        )
        return response

    def _record(
        self, amount: Amount, inputs: int, cached: int, outputs: int, started: float, outcome: str
    ) -> None:
        context = self.context
        self.recorder.record(
            LlmCallRecord(
                run_id=context.run_id,
                tier_id=context.tier_id,
                phase_id=context.phase_id,
                attempt=context.attempt,
                role=context.role,
                provider=self.alias.provider.value,
                model=self.alias.model,
                input_tokens=inputs,
                cached_input_tokens=cached,
                output_tokens=outputs,
                usd=amount.usd if amount.usd else Decimal(0),
                latency_ms=int((time.monotonic() - started) * 1000),
                outcome=outcome,
            )
        )
