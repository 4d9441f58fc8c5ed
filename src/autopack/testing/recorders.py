"""A call recorder that keeps ledger rows in memory, for tests that need no database."""

from __future__ import annotations

from dataclasses import dataclass, field

from autopack.store.ledger import LlmCallRecord


@dataclass
class ListRecorder:
    calls: list[LlmCallRecord] = field(default_factory=list)

    def record(self, call: LlmCallRecord) -> None:
        self.calls.append(call)
