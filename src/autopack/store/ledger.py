"""The cost ledger: one row per billed LLM call, and the totals budgets are checked against."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from autopack.domain.vocabulary import Role
from autopack.killpoints import reached
from autopack.store.engine import Database
from autopack.store.schema import LlmCallRow


class LlmCallRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    tier_id: str | None = None
    phase_id: str | None = None
    attempt: int | None = None
    role: Role
    provider: str
    model: str
    input_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    # Tokens the call wrote to the provider's prompt cache (part of input_tokens, like cached ones).
    cache_write_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(ge=0)
    usd: Decimal = Field(ge=0)
    latency_ms: int = Field(ge=0)
    outcome: str
    transcript: str | None = None
    created_at: datetime | None = None


class LedgerTotals(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    usd: Decimal

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def record_llm_call(database: Database, call: LlmCallRecord) -> None:
    with database.transaction() as session:
        session.add(LlmCallRow(**call.model_dump(exclude={"created_at"}, mode="python")))
    reached("ledger:row")


def ledger_for_run(database: Database, run_id: str) -> list[LlmCallRecord]:
    with database.reading() as session:
        rows = session.scalars(
            select(LlmCallRow).where(LlmCallRow.run_id == run_id).order_by(LlmCallRow.id)
        )
        return [LlmCallRecord.model_validate(row, from_attributes=True) for row in rows]


def ledger_totals(database: Database, run_id: str) -> LedgerTotals:
    query = select(
        func.count(LlmCallRow.id),
        func.coalesce(func.sum(LlmCallRow.input_tokens), 0),
        func.coalesce(func.sum(LlmCallRow.cached_input_tokens), 0),
        func.coalesce(func.sum(LlmCallRow.cache_write_tokens), 0),
        func.coalesce(func.sum(LlmCallRow.output_tokens), 0),
        func.coalesce(func.sum(LlmCallRow.usd), 0),
    ).where(LlmCallRow.run_id == run_id)
    with database.reading() as session:
        calls, inputs, cached, written, outputs, usd = session.execute(query).one()
    return LedgerTotals(
        calls=calls,
        input_tokens=int(inputs),
        cached_input_tokens=int(cached),
        cache_write_tokens=int(written),
        output_tokens=int(outputs),
        usd=Decimal(str(usd)),
    )
