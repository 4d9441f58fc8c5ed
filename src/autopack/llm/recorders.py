"""Where billed calls are written: the cost ledger table of the run's database."""

from __future__ import annotations

from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, record_llm_call


class DatabaseRecorder:
    def __init__(self, database: Database):
        self.database = database

    def record(self, call: LlmCallRecord) -> None:
        record_llm_call(self.database, call)
