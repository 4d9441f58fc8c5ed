"""The seam between the shared runner and one coding-agent CLI: its argv and its output format."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from autopack.builder.base import BuildRequest, StopReason, TrajectoryStep
from autopack.llm.aliases import ModelAlias


@dataclass(frozen=True)
class CliReport:
    """What a CLI said about its own run; any field it did not report stays empty."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    # Written to the provider's prompt cache (part of input_tokens, priced at the write rate).
    cache_write_tokens: int = 0
    cost_usd: Decimal | None = None
    requests: int = 0
    summary: str = ""
    steps: tuple[TrajectoryStep, ...] = field(default_factory=tuple)
    # A CLI that stops on its own caps says so; None = judge by the exit code.
    stop: StopReason | None = None
    error: str = ""


class CliAdapter(Protocol):
    name: str
    executable: str
    install_hint: str

    def argv(
        self, request: BuildRequest, prompt: str, alias: ModelAlias, budget_usd: Decimal | None
    ) -> list[str]: ...

    def parse(self, stdout: str, stderr: str) -> CliReport: ...
