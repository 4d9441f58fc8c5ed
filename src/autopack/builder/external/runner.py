"""Run an external coding-agent CLI as a Builder: budget held first, usage settled from its report.

The CLI's spend cannot be reserved call by call as our own model calls are, so the attempt's whole
remaining allowance is held while it runs (and handed to CLIs that accept a cap), then replaced by
what the CLI reports. Its output is redacted before it is kept anywhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from autopack.builder.allowance import attempt_allowance
from autopack.builder.base import (
    BuilderResult,
    BuilderUsage,
    BuildRequest,
    StopReason,
    TrajectoryStep,
)
from autopack.builder.external.base import CliAdapter, CliReport
from autopack.builder.modes import MODE_PROFILES
from autopack.builder.prompts import task_message
from autopack.builder.tools import clip
from autopack.errors import ConfigError
from autopack.llm.aliases import ModelAlias
from autopack.llm.budget import Amount, BudgetExhausted, BudgetLedger, Scope
from autopack.llm.budgeted import CallContext, CallRecorder, Usage
from autopack.llm.redact import Redactor
from autopack.verify.base import Limits
from autopack.verify.limits_exec import run_limited
from autopack.workspace.diffs import changed_paths, worktree_diff

STDERR_TAIL_LINES = 15


class ExternalBuilder:
    def __init__(
        self,
        adapter: CliAdapter,
        *,
        alias_name: str,
        alias: ModelAlias,
        ledger: BudgetLedger,
        scopes: Sequence[Scope],
        context: CallContext,
        recorder: CallRecorder,
        redactor: Redactor | None = None,
        wall_seconds: float | None = None,
        env: Mapping[str, str] | None = None,
    ):
        self.adapter = adapter
        self.name = adapter.name
        self.alias_name = alias_name
        self.alias = alias
        self.ledger = ledger
        self.scopes = tuple(scopes)
        self.context = context
        self.recorder = recorder
        self.redactor = redactor or Redactor()
        self.wall_seconds = wall_seconds
        # The CLI needs the parent's environment: that is where it finds its own API key.
        self.env = dict(env) if env is not None else dict(os.environ)

    def executable_path(self) -> str:
        found = shutil.which(self.adapter.executable, path=self.env.get("PATH"))
        if found is None:
            raise ConfigError(
                f"builder {self.adapter.name} needs the `{self.adapter.executable}` command, "
                f"which is not on PATH: install it ({self.adapter.install_hint}) or choose "
                "another builder"
            )
        return found

    async def build(self, request: BuildRequest) -> BuilderResult:
        executable = self.executable_path()
        allowance = attempt_allowance(self.ledger, self.scopes, request)
        if allowance.tokens <= 0 or allowance.usd <= 0:
            return self._result(request, StopReason.BUDGET, "no budget left", CliReport())
        try:
            reservation = self.ledger.reserve(self.scopes, allowance)
        except BudgetExhausted as exhausted:
            return self._result(request, StopReason.BUDGET, str(exhausted), CliReport())
        profile = MODE_PROFILES[request.phase.builder_mode]
        prompt = self.redactor.text(task_message(request, profile, ""))
        budget_usd = allowance.usd if allowance.usd < Decimal("1e17") else None
        argv = [executable, *self.adapter.argv(request, prompt, self.alias, budget_usd)[1:]]
        limits = Limits(
            wall_seconds=self.wall_seconds or profile.wall_seconds, output_bytes=1_000_000
        )
        started = time.monotonic()
        try:
            completed = await asyncio.to_thread(
                run_limited, argv, cwd=request.worktree.path, limits=limits, env=self.env
            )
        except BaseException:
            self.ledger.release(reservation)
            raise
        report = self.adapter.parse(completed.stdout, completed.stderr)
        cost = (
            report.cost_usd
            if report.cost_usd is not None
            else self.alias.cost_usd(
                report.input_tokens,
                report.cached_input_tokens,
                report.output_tokens,
                report.cache_write_tokens,
            )
        )
        self.ledger.settle(
            reservation, Amount(tokens=report.input_tokens + report.output_tokens, usd=cost)
        )
        if completed.timed_out:
            stop, detail = StopReason.WALL_CLOCK, f"killed after {limits.wall_seconds:.0f} s"
        elif report.stop is not None:
            stop, detail = report.stop, report.error
        elif completed.exit_code != 0:
            tail = completed.stderr.strip().splitlines()[-STDERR_TAIL_LINES:]
            stop = StopReason.AGENT_ERROR
            detail = f"exit code {completed.exit_code}: " + "\n".join(tail)
        else:
            stop, detail = StopReason.FINISHED, ""
        outcome = {StopReason.FINISHED: "ok", StopReason.WALL_CLOCK: "timeout"}.get(stop, "error")
        usage = Usage(
            report.input_tokens,
            report.cached_input_tokens,
            report.output_tokens,
            report.cache_write_tokens,
        )
        self.recorder.record(
            self.context.call_record(self.alias, usage, usd=cost, started=started, outcome=outcome)
        )
        return self._result(request, stop, detail, report, cost)

    def _result(
        self,
        request: BuildRequest,
        stop: StopReason,
        detail: str,
        report: CliReport,
        cost: Decimal | None = None,
    ) -> BuilderResult:
        redact = self.redactor.text
        steps = tuple(
            TrajectoryStep(
                number=step.number,
                action=step.action,
                arguments=clip(redact(step.arguments), 2_000),
                observation=clip(redact(step.observation), 2_000),
                failed=step.failed,
            )
            for step in report.steps
        )
        return BuilderResult(
            builder=self.name,
            stop_reason=stop,
            stop_detail=redact(detail),
            diff=worktree_diff(request.worktree),
            changed_paths=changed_paths(request.worktree),
            summary=redact(report.summary),
            usage=BuilderUsage(
                requests=report.requests,
                input_tokens=report.input_tokens,
                cached_input_tokens=report.cached_input_tokens,
                output_tokens=report.output_tokens,
                reported_usd=report.cost_usd if cost is not None else None,
            ),
            trajectory=steps,
        )
