"""Every model request of every agent passes here: reserve its worst case, call, settle, record.

A pydantic-ai wrapper model, so Builders, Auditors and the planner are budgeted alike without
knowing it. A request no level can cover is never sent (BudgetExhausted); a request that fails
is released unbilled and recorded as an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.domain.vocabulary import Role
from autopack.llm.aliases import ModelAlias
from autopack.llm.budget import Amount, BudgetLedger, Scope
from autopack.llm.transcripts import TranscriptWriter
from autopack.llm.worst_case import worst_case
from autopack.store.ledger import LlmCallRecord


@dataclass(frozen=True)
class Usage:
    # inputs counts the whole prompt; cached (read) and written are the parts the provider's prompt
    # cache served and stored, each priced at its own rate.
    inputs: int = 0
    cached: int = 0
    outputs: int = 0
    written: int = 0


class CallRecorder(Protocol):
    def record(self, call: LlmCallRecord) -> None: ...


@dataclass(frozen=True)
class CallContext:
    """Whose call this is: what the ledger row records beside the usage."""

    run_id: str
    role: Role
    tier_id: str | None = None
    phase_id: str | None = None
    attempt: int | None = None

    def call_record(
        self,
        alias: ModelAlias,
        usage: Usage,
        *,
        usd: Decimal,
        started: float,
        outcome: str,
        transcript: str | None = None,
    ) -> LlmCallRecord:
        """The ledger row for one call (or one external CLI run) made in this context."""
        return LlmCallRecord(
            run_id=self.run_id,
            tier_id=self.tier_id,
            phase_id=self.phase_id,
            attempt=self.attempt,
            role=self.role,
            provider=alias.provider.value,
            model=alias.model,
            input_tokens=usage.inputs,
            cached_input_tokens=usage.cached,
            cache_write_tokens=usage.written,
            output_tokens=usage.outputs,
            usd=usd,
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome=outcome,
            transcript=transcript,
        )


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
        transcripts: TranscriptWriter | None = None,
    ):
        super().__init__(wrapped)
        self.alias_name = alias_name
        self.alias = alias
        self.ledger = ledger
        self.scopes = tuple(scopes)
        self.context = context
        self.recorder = recorder
        self.transcripts = transcripts

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        max_tokens = (model_settings or {}).get("max_tokens")
        texts = request_texts(messages, model_request_parameters)
        reservation = self.ledger.reserve(self.scopes, worst_case(self.alias, texts, max_tokens))
        started = time.monotonic()
        try:
            response = await self.wrapped.request(
                messages, model_settings, model_request_parameters
            )
        except BaseException as error:
            self.ledger.release(reservation)
            transcript = self._transcript(messages, None, f"{type(error).__name__}: {error}")
            self._record(Usage(), started, "error", transcript)
            raise
        usage = Usage(
            response.usage.input_tokens,
            response.usage.cache_read_tokens,
            response.usage.output_tokens,
            response.usage.cache_write_tokens,
        )
        cost = self.alias.cost_usd(usage.inputs, usage.cached, usage.outputs, usage.written)
        self.ledger.settle(reservation, Amount(tokens=usage.inputs + usage.outputs, usd=cost))
        self._record(usage, started, "ok", self._transcript(messages, response, None), cost)
        return response

    def _transcript(
        self, messages: list[ModelMessage], response: ModelResponse | None, error: str | None
    ) -> str | None:
        if self.transcripts is None:
            return None
        return str(
            self.transcripts.write(self.alias_name, self.alias.model, messages, response, error)
        )

    def _record(
        self,
        usage: Usage,
        started: float,
        outcome: str,
        transcript: str | None,
        cost: Decimal = Decimal(0),
    ) -> None:
        self.recorder.record(
            self.context.call_record(
                self.alias,
                usage,
                usd=cost,
                started=started,
                outcome=outcome,
                transcript=transcript,
            )
        )
