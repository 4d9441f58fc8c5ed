"""Where billed calls are written: the cost ledger table of the run's database."""

from __future__ import annotations

from dataclasses import dataclass, field

from autopack.llm.budget import Amount, BudgetLedger, restore_spent, scopes_of
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, ledger_for_run, record_llm_call


class DatabaseRecorder:
    def __init__(self, database: Database):
        self.database = database

    def record(self, call: LlmCallRecord) -> None:
        record_llm_call(self.database, call)


def ledger_from_database(database: Database, run_id: str, ledger: BudgetLedger) -> BudgetLedger:
    """Rebuild a run's spend from its recorded calls (a resumed run must not spend its budget twice)."""
    restore_spent(
        ledger,
        [
            (
                scopes_of(call.run_id, call.tier_id, call.phase_id, call.attempt),
                Amount(tokens=call.input_tokens + call.output_tokens, usd=call.usd),
            )
            for call in ledger_for_run(database, run_id)
        ],
    )
    return ledger


@dataclass
class MemoryRecorder:
    """Keeps ledger rows until they can be stored: the planner calls before its run exists."""

    calls: list[LlmCallRecord] = field(default_factory=list)

    def record(self, call: LlmCallRecord) -> None:
        self.calls.append(call)

    def flush_to(self, database: Database) -> None:
        for call in self.calls:
            record_llm_call(database, call)
        self.calls.clear()
