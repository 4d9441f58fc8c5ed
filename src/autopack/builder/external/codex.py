"""OpenAI Codex CLI (`codex exec --json`), in its workspace-write sandbox.

Its stdout is JSON Lines: `thread.started`, `turn.started`, `item.started|updated|completed`
(items of type agent_message, reasoning, command_execution, file_change, ...),
`turn.completed` with `usage` {input_tokens, cached_input_tokens, output_tokens}, `turn.failed`
with `error.message`, and top-level `error`. Codex reports tokens, not dollars: the alias prices
them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from autopack.builder.base import BuildRequest, StopReason, TrajectoryStep
from autopack.builder.external.base import CliReport
from autopack.llm.aliases import ModelAlias


def _observation(item: dict[str, Any]) -> tuple[str, str, str]:
    kind = str(item.get("type", "item"))
    if kind == "command_execution":
        return kind, str(item.get("command", "")), str(item.get("aggregated_output", ""))
    if kind == "file_change":
        changes = item.get("changes") or []
        paths = [
            f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes if isinstance(c, dict)
        ]
        return kind, "", ", ".join(paths)
    return kind, "", str(item.get("text", ""))


class Codex:
    name = "codex"
    executable = "codex"
    install_hint = "npm install -g @openai/codex"

    def argv(
        self, request: BuildRequest, prompt: str, alias: ModelAlias, budget_usd: Decimal | None
    ) -> list[str]:
        return [
            self.executable,
            "exec",
            "--json",
            "--sandbox",
            "workspace-write",
            "--skip-git-repo-check",
            "--model",
            alias.model,
            prompt,
        ]

    def parse(self, stdout: str, stderr: str) -> CliReport:
        inputs = cached = outputs = turns = 0
        summary, error = "", ""
        steps: list[TrajectoryStep] = []
        for line in stdout.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("type")
            if kind in ("turn.completed", "turn.failed"):
                turns += 1
                usage = event.get("usage") or {}
                inputs += int(usage.get("input_tokens", 0))
                cached += int(usage.get("cached_input_tokens", 0))
                outputs += int(usage.get("output_tokens", 0))
                if kind == "turn.failed":
                    error = str((event.get("error") or {}).get("message", "turn failed"))
            elif kind == "error":
                error = str(event.get("message", "error"))
            elif kind == "item.completed" and isinstance(event.get("item"), dict):
                action, arguments, observation = _observation(event["item"])
                if action == "agent_message":
                    summary = observation
                steps.append(
                    TrajectoryStep(
                        number=len(steps) + 1,
                        action=action,
                        arguments=arguments,
                        observation=observation,
                    )
                )
        return CliReport(
            input_tokens=inputs,
            cached_input_tokens=cached,
            output_tokens=outputs,
            requests=turns,
            summary=summary,
            steps=tuple(steps),
            stop=StopReason.AGENT_ERROR if error else None,
            error=error,
        )
