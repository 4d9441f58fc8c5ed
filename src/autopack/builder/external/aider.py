"""Aider (aider-chat 0.86): one non-interactive message, edits left uncommitted for git to read.

Aider prints its usage as text after each exchange, e.g.
`Tokens: 2.3k sent, 1.1k cache hit, 150 received. Cost: $0.01 message, $0.02 session.`;
the last such line carries the session's total cost.
"""

from __future__ import annotations

import re
from decimal import Decimal

from autopack.builder.base import BuildRequest, TrajectoryStep
from autopack.builder.external.base import CliReport
from autopack.llm.aliases import ModelAlias

_TOKENS = re.compile(
    r"Tokens:\s*(?P<sent>[\d.,]+[kKmM]?) sent"
    r"(?:,\s*(?P<written>[\d.,]+[kKmM]?) cache write)?"
    r"(?:,\s*(?P<hit>[\d.,]+[kKmM]?) cache hit)?"
    r",\s*(?P<received>[\d.,]+[kKmM]?) received"
)
_SESSION_COST = re.compile(
    r"Cost:\s*\$(?P<message>[\d.]+) message,\s*\$(?P<session>[\d.]+) session"
)


def _count(text: str | None) -> int:
    if not text:
        return 0
    text = text.replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    number = text[:-1] if scale > 1 else text
    return round(float(number) * scale)


class Aider:
    name = "aider"
    executable = "aider"
    install_hint = "pip install aider-chat (https://aider.chat)"

    def argv(
        self, request: BuildRequest, prompt: str, alias: ModelAlias, budget_usd: Decimal | None
    ) -> list[str]:
        return [
            self.executable,
            "--model",
            f"{alias.provider.value}/{alias.model}",
            "--message",
            prompt,
            "--yes-always",
            "--no-auto-commits",
            "--no-dirty-commits",
            "--no-stream",
            "--no-pretty",
            "--no-check-update",
            "--no-analytics",
            "--no-show-model-warnings",
        ]

    def parse(self, stdout: str, stderr: str) -> CliReport:
        inputs = cached = outputs = exchanges = 0
        for match in _TOKENS.finditer(stdout):
            exchanges += 1
            inputs += _count(match["sent"]) + _count(match["hit"]) + _count(match["written"])
            cached += _count(match["hit"])
            outputs += _count(match["received"])
        costs = list(_SESSION_COST.finditer(stdout))
        steps = tuple(
            TrajectoryStep(number=i, action="aider_exchange", observation=match.group(0))
            for i, match in enumerate(_TOKENS.finditer(stdout), 1)
        )
        lines = [line for line in stdout.splitlines() if line.strip()]
        return CliReport(
            input_tokens=inputs,
            cached_input_tokens=cached,
            output_tokens=outputs,
            cost_usd=Decimal(costs[-1]["session"]) if costs else None,
            requests=exchanges,
            summary="\n".join(lines[-5:]),
            steps=steps,
        )
