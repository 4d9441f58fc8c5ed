"""The bounded conversation on both providers' wire formats, through the real SDKs.

A Builder attempt of many reads runs against the fake OpenAI and Anthropic servers with tight
context rules: the requests carry stubs and, past the small window's share, the summary. Real
providers refuse a conversation in which a tool call has no answer in the next message, or an
answer has no call; every request the fake received is checked for that. (pydantic-ai 2.68 also
repairs pairing before each request, dropping orphaned answers silently, so a processor that broke
pairing would lose observations rather than be refused: test_context.py checks the processor's own
output for that.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

import pytest

from autopack.apply.policy import WritePolicy
from autopack.builder.agent import AgentBuilder
from autopack.builder.base import BuildRequest, StopReason
from autopack.builder.context import SUMMARY_INSTRUCTIONS, SUMMARY_MARK
from autopack.builder.modes import MODE_PROFILES, ModeProfile
from autopack.builder.progress import ProgressLimits
from autopack.domain.vocabulary import BuilderMode, Role
from autopack.llm.budget import BudgetLedger, scopes_of
from autopack.llm.budgeted import BudgetedModel, CallContext
from autopack.llm.providers import build_model
from autopack.llm.recorders import MemoryRecorder
from autopack.strategy.ruleset import BuilderContextRules
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, alias_on, fake_llm_server
from autopack.testing.runs import phase_strategy
from autopack.verify.bubblewrap import NoSandbox
from autopack.workspace.base import Worktree

READS = 14
RULES = BuilderContextRules(
    elide_after_steps=2, keep_last_observations=2, elide_block=3, summarise_at_share=0.5
)
PHASE = phase_strategy("Read widely", description="Read the module.", acceptance=("done",))


def _pairs(api: str, request: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """(tool call ids of an assistant message, answer ids of the message after it)."""
    messages = request["messages"]
    pairs = []
    for current, following in itertools.pairwise(messages):
        if current["role"] != "assistant":
            continue
        if api == "openai":
            calls = [call["id"] for call in current.get("tool_calls") or []]
            start = messages.index(current) + 1
            answers = []
            for message in messages[start:]:
                if message["role"] != "tool":
                    break
                answers.append(message["tool_call_id"])
        else:
            blocks = current["content"] if isinstance(current["content"], list) else []
            calls = [block["id"] for block in blocks if block.get("type") == "tool_use"]
            content = following["content"] if isinstance(following["content"], list) else []
            answers = [b["tool_use_id"] for b in content if b.get("type") == "tool_result"]
        pairs.append((calls, answers))
    return pairs


class Script:
    def __init__(self) -> None:
        self.builder: list[dict[str, Any]] = []
        self.summaries = 0
        self._lock = threading.Lock()

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        if not request.get("tools") and SUMMARY_INSTRUCTIONS in json.dumps(request):
            self.summaries += 1
            return Reply(text="Read big.py from the top; nothing changed.")
        with self._lock:
            self.builder.append(request)
            step = len(self.builder)
        if step <= READS:
            # Short reads first, then reads as wide as an observation may be, which only a
            # summary brings back under the window's share.
            arguments: dict[str, Any] = (
                {"path": "big.py", "start_line": step * 7, "end_line": step * 7 + 49}
                if step < 8
                else {"path": "wide.py", "start_line": step}
            )
            return Reply(tool_calls=(ToolCall(name="read_file", arguments=arguments),))
        return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "Read it."}),))


def _model(server: FakeLLMServer, name: str, ledger: BudgetLedger) -> BudgetedModel:
    alias = alias_on(server, name)
    return BudgetedModel(
        build_model(name, alias, "test-key"),
        alias_name=name,
        alias=alias,
        ledger=ledger,
        scopes=scopes_of("run-1", "1", "p1", 1),
        context=CallContext(
            run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="p1", attempt=1
        ),
        recorder=MemoryRecorder(),
    )


@pytest.mark.parametrize(
    ("builder_alias", "fast_alias"),
    [
        ("openai-standard", "openai-fast"),
        ("anthropic-standard", "anthropic-fast"),
    ],
)
def test_stubbed_and_summarised_conversations_keep_every_call_answered(
    builder_alias: str, fast_alias: str, attempt_worktree: Worktree
) -> None:
    (attempt_worktree.path / "big.py").write_text(
        "".join(f"def function_{n}(value):\n    return value * {n}  # scaled\n" for n in range(400))
    )
    (attempt_worktree.path / "wide.py").write_text(
        "".join(f"TABLE_{n} = {[f'entry {n}-{m}' for m in range(24)]}\n" for n in range(100))
    )
    base = MODE_PROFILES[BuilderMode.TWEAK_LIGHT]
    profile = ModeProfile(**{**base.__dict__, "progress": ProgressLimits(stale_steps=99)})
    script = Script()
    ledger = BudgetLedger()
    with fake_llm_server(script) as server:
        builder = AgentBuilder(
            _model(server, builder_alias, ledger),
            sandbox=NoSandbox(),
            policy=WritePolicy(),
            profiles={mode: profile for mode in BuilderMode},
            context_rules=RULES,
            context_window=14_000,
            summariser=lambda: _model(server, fast_alias, ledger),
        )
        result = asyncio.run(
            builder.build(BuildRequest(phase=PHASE, worktree=attempt_worktree, attempt=1))
        )
        api = server.bills[0].api
        bills = len(server.bills)
    assert result.stop_reason is StopReason.FINISHED, result.stop_detail
    assert script.summaries >= 1
    assert result.usage.requests == bills == len(script.builder) + script.summaries
    bodies = [json.dumps(request) for request in script.builder]
    assert any("elided" in body for body in bodies)
    assert any(SUMMARY_MARK in body for body in bodies)
    for request in script.builder:
        for calls, answers in _pairs(api, request):
            assert calls == answers, (calls, answers)
        # ... and no answer stands anywhere else (after the task, say, with its call summarised).
        body = json.dumps(request["messages"])
        assert body.count('"tool_call_id"' if api == "openai" else '"tool_use_id"') == sum(
            len(calls) for calls, _ in _pairs(api, request)
        )
        assert "# Phase" in json.dumps(request["messages"][0 if api == "anthropic" else 1])
