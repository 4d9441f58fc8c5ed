"""Claude Code (`claude -p`, print mode) with `--output-format json`.

The JSON result object carries `result` (the final text), `is_error`, `subtype` (`success`,
`error_max_turns`, `error_max_budget_usd`, `error_during_execution`), `num_turns`,
`total_cost_usd` and `usage` {input_tokens, cache_creation_input_tokens, cache_read_input_tokens,
output_tokens}. The ledger's remaining allowance is passed as `--max-budget-usd`, so Claude Code
stops itself before spending more than the phase may.
"""

from __future__ import annotations

import json
from decimal import Decimal

from autopack.builder.base import BuildRequest, StopReason
from autopack.builder.external.base import CliReport
from autopack.llm.aliases import ModelAlias

_STOPS = {
    "error_max_turns": StopReason.STEP_LIMIT,
    "error_max_budget_usd": StopReason.BUDGET,
    "error_during_execution": StopReason.AGENT_ERROR,
}


class ClaudeCode:
    name = "claude-code"
    executable = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"

    def __init__(self, max_turns: int = 30):
        self.max_turns = max_turns

    def argv(
        self, request: BuildRequest, prompt: str, alias: ModelAlias, budget_usd: Decimal | None
    ) -> list[str]:
        argv = [
            self.executable,
            "-p",
            prompt,
            "--output-format",
            "json",
            "--model",
            alias.model,
            "--max-turns",
            str(self.max_turns),
            "--permission-mode",
            "acceptEdits",
        ]
        if budget_usd is not None:
            argv += ["--max-budget-usd", f"{budget_usd:.4f}"]
        return argv

    def parse(self, stdout: str, stderr: str) -> CliReport:
        result = None
        # The result object is the last JSON line; anything before it is noise we can ignore.
        for line in reversed(stdout.strip().splitlines()):
            try:
                candidate = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(candidate, dict) and candidate.get("type", "result") == "result":
                result = candidate
                break
        if result is None:
            return CliReport(error="claude printed no JSON result")
        usage = result.get("usage") or {}
        cached = int(usage.get("cache_read_input_tokens", 0))
        written = int(usage.get("cache_creation_input_tokens", 0))
        inputs = int(usage.get("input_tokens", 0)) + cached + written
        cost = result.get("total_cost_usd")
        subtype = str(result.get("subtype", ""))
        stop = _STOPS.get(subtype, StopReason.AGENT_ERROR if result.get("is_error") else None)
        return CliReport(
            input_tokens=inputs,
            cached_input_tokens=cached,
            cache_write_tokens=written,
            output_tokens=int(usage.get("output_tokens", 0)),
            cost_usd=Decimal(str(cost)) if cost is not None else None,
            requests=int(result.get("num_turns", 0)),
            summary=str(result.get("result", "")),
            stop=stop,
            error=subtype if stop is not None else "",
        )
