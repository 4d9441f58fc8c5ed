"""External coding-agent CLIs as Builders, run for real against fakes that print each tool's format."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from autopack.builder.base import BuildRequest, StopReason
from autopack.builder.external.aider import Aider
from autopack.builder.external.base import CliAdapter
from autopack.builder.external.claude_code import ClaudeCode
from autopack.builder.external.codex import Codex
from autopack.builder.external.runner import ExternalBuilder
from autopack.domain.vocabulary import Role
from autopack.errors import ConfigError
from autopack.llm.aliases import default_aliases
from autopack.llm.budget import BudgetLedger, Cap, scopes_of
from autopack.llm.budgeted import CallContext
from autopack.llm.recorders import MemoryRecorder
from autopack.testing.runs import phase_strategy
from autopack.workspace.base import Worktree

FAKES = Path(__file__).parent / "fakes"
PHASE = phase_strategy("Fix add", description="add() subtracts.")
SCOPES = scopes_of("run-1", "1", "p1", 1)


@dataclass
class Harness:
    builder: ExternalBuilder
    ledger: BudgetLedger
    recorder: MemoryRecorder
    argv_file: Path

    def run(self, worktree: Worktree, **request: object) -> object:
        return asyncio.run(
            self.builder.build(BuildRequest(phase=PHASE, worktree=worktree, attempt=1, **request))  # type: ignore[arg-type]
        )

    @property
    def argv(self) -> list[str]:
        return self.argv_file.read_text().splitlines()


def harness(
    adapter: CliAdapter, tmp_path: Path, mode: str = "ok", wall_seconds: float = 30, **caps: Cap
) -> Harness:
    ledger = BudgetLedger()
    for scope in SCOPES:
        ledger.set_cap(scope, caps.get(scope[0].value, Cap(tokens=1_000_000, usd=Decimal("5"))))
    recorder = MemoryRecorder()
    argv_file = tmp_path / "argv.txt"
    env = {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "FAKE_MODE": mode,
        "FAKE_ARGV_FILE": str(argv_file),
    }
    alias_name = "openai-standard" if isinstance(adapter, Codex) else "anthropic-standard"
    builder = ExternalBuilder(
        adapter,
        alias_name=alias_name,
        alias=default_aliases()[alias_name],
        ledger=ledger,
        scopes=SCOPES,
        context=CallContext(
            run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="p1", attempt=1
        ),
        recorder=recorder,
        wall_seconds=wall_seconds,
        env=env,
    )
    return Harness(builder, ledger, recorder, argv_file)


def _changed_lines(diff: str) -> list[str]:
    return [row for row in diff.splitlines() if row[:1] in "+-" and row[:3] not in ("+++", "---")]


def test_aider_edits_are_read_by_git_and_its_costs_reach_the_ledger(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    run = harness(Aider(), tmp_path)
    result = run.run(attempt_worktree)
    assert result.stop_reason is StopReason.FINISHED
    assert result.changed_paths == ("calc.py",)
    assert _changed_lines(result.diff) == ["-    return a - b", "+    return a + b"]
    assert result.usage.input_tokens == 2300 + 1100 + 3000 + 2000
    assert result.usage.cached_input_tokens == 3100
    assert result.usage.output_tokens == 1350
    assert result.usage.reported_usd == Decimal("0.03")
    for scope in SCOPES:
        assert run.ledger.spent(scope).usd == Decimal("0.03")
        assert run.ledger.spent(scope).tokens == 8400 + 1350
    [call] = run.recorder.calls
    assert (call.usd, call.outcome, call.model) == (Decimal("0.03"), "ok", "claude-sonnet-5-5")
    assert "--no-auto-commits" in run.argv
    assert run.argv[run.argv.index("--model") + 1] == "anthropic/claude-sonnet-5-5"
    assert "sk-proj-" + "A" * 30 not in result.summary
    assert "[REDACTED]" in result.summary


def test_claude_code_gets_the_ledger_allowance_as_its_own_cap(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    run = harness(
        ClaudeCode(max_turns=12), tmp_path, phase=Cap(tokens=500_000, usd=Decimal("1.25"))
    )
    result = run.run(attempt_worktree, remaining_usd=Decimal("2"))
    assert result.stop_reason is StopReason.FINISHED
    assert run.argv[run.argv.index("--max-budget-usd") + 1] == "1.2500"
    assert run.argv[run.argv.index("--max-turns") + 1] == "12"
    assert run.argv[run.argv.index("--output-format") + 1] == "json"
    assert result.summary == "Fixed add() in calc.py."
    assert result.usage.input_tokens == 1200 + 300 + 5000
    assert result.usage.requests == 4
    assert run.ledger.spent(SCOPES[-1]).usd == Decimal("0.0421")
    assert run.ledger.remaining(SCOPES[2]).usd == Decimal("1.25") - Decimal("0.0421")
    assert _changed_lines(result.diff) == ["-    return a - b", "+    return a + b"]


def test_claude_code_stopping_on_its_turn_cap_is_a_step_limit(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    result = harness(ClaudeCode(), tmp_path, mode="max_turns").run(attempt_worktree)
    assert result.stop_reason is StopReason.STEP_LIMIT
    assert result.stop_detail == "error_max_turns"


def test_codex_events_become_a_trajectory_and_priced_usage(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    run = harness(Codex(), tmp_path)
    result = run.run(attempt_worktree)
    assert result.stop_reason is StopReason.FINISHED
    assert [step.action for step in result.trajectory] == [
        "reasoning",
        "command_execution",
        "file_change",
        "agent_message",
    ]
    assert result.trajectory[1].arguments == "cat calc.py"
    assert result.trajectory[2].observation == "update calc.py"
    assert result.summary == "add() now adds."
    alias = default_aliases()["openai-standard"]
    expected = alias.cost_usd(8000, 6000, 400)
    assert result.usage.reported_usd is None
    assert run.recorder.calls[0].usd == expected == run.ledger.spent(SCOPES[0]).usd
    assert run.argv[:4] == ["exec", "--json", "--sandbox", "workspace-write"]


def test_a_failing_cli_is_an_agent_error_with_its_reason(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    codex = harness(Codex(), tmp_path, mode="fail").run(attempt_worktree)
    assert codex.stop_reason is StopReason.AGENT_ERROR
    assert codex.stop_detail == "stream disconnected"
    aider = harness(Aider(), tmp_path, mode="fail")
    result = aider.run(attempt_worktree)
    assert result.stop_reason is StopReason.AGENT_ERROR
    assert result.stop_detail.startswith("exit code 1:")
    assert "invalid x-api-key" in result.stop_detail
    assert aider.recorder.calls[0].outcome == "error"
    # What it spent before failing is still counted.
    assert aider.ledger.spent(SCOPES[0]).usd == Decimal("0.03")


def test_a_cli_past_the_wall_clock_is_killed(attempt_worktree: Worktree, tmp_path: Path) -> None:
    run = harness(Aider(), tmp_path, mode="sleep", wall_seconds=0.5)
    result = run.run(attempt_worktree)
    assert result.stop_reason is StopReason.WALL_CLOCK
    assert result.diff == ""
    assert run.recorder.calls[0].outcome == "timeout"


def test_no_budget_left_means_the_cli_is_not_started(
    attempt_worktree: Worktree, tmp_path: Path
) -> None:
    run = harness(Codex(), tmp_path, phase=Cap(tokens=1_000, usd=Decimal("0")))
    result = run.run(attempt_worktree)
    assert result.stop_reason is StopReason.BUDGET
    assert not run.argv_file.exists()
    assert run.recorder.calls == []


@pytest.mark.parametrize("adapter", [Aider(), ClaudeCode(), Codex()], ids=lambda a: a.name)
def test_a_cli_that_is_not_installed_is_a_configuration_error(
    adapter: CliAdapter, attempt_worktree: Worktree, tmp_path: Path
) -> None:
    run = harness(adapter, tmp_path)
    run.builder.env["PATH"] = str(tmp_path / "empty-bin")
    with pytest.raises(ConfigError, match=f"`{adapter.executable}` command"):
        run.run(attempt_worktree)


def test_claude_codes_cache_writes_are_counted_and_priced_at_the_write_rate() -> None:
    result = (
        '{"type": "result", "subtype": "success", "result": "done", "num_turns": 3, "usage": '
        '{"input_tokens": 1000, "cache_read_input_tokens": 8000, '
        '"cache_creation_input_tokens": 2000, "output_tokens": 300}}'
    )
    report = ClaudeCode().parse(result, "")
    assert (report.input_tokens, report.cached_input_tokens) == (11_000, 8_000)
    assert report.cache_write_tokens == 2_000
    alias = default_aliases()["anthropic-standard"]  # $2 in, $0.10 read, $2.50 write, $10 out
    cost = alias.cost_usd(
        report.input_tokens,
        report.cached_input_tokens,
        report.output_tokens,
        report.cache_write_tokens,
    )
    assert cost == Decimal("0.002") + Decimal("0.0008") + Decimal("0.005") + Decimal("0.003")
