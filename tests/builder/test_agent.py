"""The built-in Builder end to end: a scripted session over the real SDKs, and every way an attempt stops."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from autopack.apply.policy import WritePolicy
from autopack.builder.agent import AgentBuilder
from autopack.builder.base import BuildRequest, Feedback, FeedbackKind, StopReason
from autopack.builder.modes import MODE_PROFILES, ModeProfile
from autopack.builder.progress import ProgressLimits
from autopack.domain.vocabulary import BuilderMode, Role
from autopack.llm.aliases import default_aliases
from autopack.llm.budget import Amount, BudgetLedger, Cap, scopes_of
from autopack.llm.budgeted import BudgetedModel, CallContext
from autopack.llm.providers import build_model
from autopack.llm.recorders import MemoryRecorder
from autopack.llm.redact import Redactor
from autopack.testing.fake_llm import Reply, ToolCall, alias_on, fake_llm_server
from autopack.testing.runs import phase_strategy
from autopack.verify.base import Limits
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox
from autopack.workspace.base import Worktree

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
FIX_ADD = phase_strategy(
    "Fix add",
    description="add() subtracts instead of adding.",
    acceptance=("test_add passes",),
    builder_mode=BuilderMode.TWEAK_LIGHT,
)


def _tool_results(api: str, request: dict[str, Any]) -> list[str]:
    """What the tools answered so far, as the provider's wire format carries it."""
    if api == "openai":
        return [m["content"] for m in request["messages"] if m["role"] == "tool"]
    results = []
    for message in request["messages"]:
        if isinstance(message["content"], list):
            for block in message["content"]:
                if block.get("type") == "tool_result":
                    content = block["content"]
                    results.append(
                        content
                        if isinstance(content, str)
                        else "".join(part.get("text", "") for part in content)
                    )
    return results


def _session_script(api: str, request: dict[str, Any]) -> Reply:
    """Read, edit wrongly, correct from the diagnostic, test, finish: each step checks the last answer."""
    results = _tool_results(api, request)
    step = len(results)
    if step == 0:
        return Reply(tool_calls=(ToolCall(name="list_files"),), input_tokens=900, output_tokens=20)
    if step == 1:
        assert "calc.py" in results[-1]
        return Reply(tool_calls=(ToolCall(name="read_file", arguments={"path": "calc.py"}),))
    if step == 2:
        assert "    2│    return a - b" in results[-1]
        wrong = {"op": "str_replace", "path": "calc.py", "old": "return a * b\n", "new": "x\n"}
        return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": [wrong]}),))
    if step == 3:
        assert "did not apply, nothing changed" in results[-1]
        right = {
            "op": "str_replace",
            "path": "calc.py",
            "old": "def add(a, b):\n    return a - b\n",
            "new": "def add(a, b):\n    return a + b\n",
        }
        return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": [right]}),))
    if step == 4:
        assert results[-1] == "applied: calc.py"
        return Reply(tool_calls=(ToolCall(name="run_command", arguments={"command": PYTEST}),))
    assert "2 passed" in results[-1]
    return Reply(
        tool_calls=(
            ToolCall(
                name="finish",
                arguments={"summary": "add() now adds; both tests pass.", "suggested_issues": []},
            ),
        )
    )


@pytest.mark.parametrize("alias_name", ["openai-standard", "anthropic-standard"])
def test_scripted_session_over_the_real_sdk_ends_with_exactly_the_fix(
    alias_name: str, attempt_worktree: Worktree, sandbox: BubblewrapSandbox
) -> None:
    ledger = BudgetLedger()
    scopes = scopes_of("run-1", "1", "p1", 1)
    recorder = MemoryRecorder()
    with fake_llm_server(_session_script) as server:
        alias = alias_on(server, alias_name)
        model = BudgetedModel(
            build_model(alias_name, alias, "test-key"),
            alias_name=alias_name,
            alias=alias,
            ledger=ledger,
            scopes=scopes,
            context=CallContext(
                run_id="run-1", role=Role.BUILDER, tier_id="1", phase_id="p1", attempt=1
            ),
            recorder=recorder,
        )
        builder = AgentBuilder(
            model, sandbox=sandbox, policy=WritePolicy(), command_limits=Limits(wall_seconds=120)
        )
        result = asyncio.run(
            builder.build(BuildRequest(phase=FIX_ADD, worktree=attempt_worktree, attempt=1))
        )
    assert result.stop_reason is StopReason.FINISHED, result.stop_detail
    assert result.summary == "add() now adds; both tests pass."
    assert result.changed_paths == ("calc.py",)
    changed = [
        line
        for line in result.diff.splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["-    return a - b", "+    return a + b"]
    assert [step.action for step in result.trajectory] == [
        "list_files",
        "read_file",
        "edit",
        "edit",
        "run_command",
    ]
    assert [step.failed for step in result.trajectory] == [False, False, True, False, False]
    assert result.usage.requests == 6 == len(server.bills) == len(recorder.calls)
    assert result.usage.input_tokens == sum(bill.input_tokens for bill in server.bills)
    assert ledger.spent(scopes[-1]).tokens == server.billed_tokens()


def _scripted(*responses: ModelResponse) -> FunctionModel:
    queue = list(responses)

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return FunctionModel(reply)


def _call(name: str, **arguments: Any) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, arguments)])


def _builder(model: Any, **profile: Any) -> AgentBuilder:
    base = MODE_PROFILES[BuilderMode.TWEAK_LIGHT]
    profiles = {mode: ModeProfile(**{**base.__dict__, **profile}) for mode in BuilderMode}
    return AgentBuilder(model, sandbox=NoSandbox(), policy=WritePolicy(), profiles=profiles)


def _build(builder: AgentBuilder, worktree: Worktree, **request: Any) -> Any:
    return asyncio.run(
        builder.build(BuildRequest(phase=FIX_ADD, worktree=worktree, attempt=1, **request))
    )


def test_a_repeated_action_stops_the_attempt_as_no_progress(attempt_worktree: Worktree) -> None:
    result = _build(_builder(_scripted(_call("read_file", path="calc.py"))), attempt_worktree)
    assert result.stop_reason is StopReason.NO_PROGRESS
    assert result.stop_detail.startswith("repeated_action")
    assert len(result.trajectory) == 3


def test_the_step_cap_stops_the_attempt(attempt_worktree: Worktree) -> None:
    lines = iter(range(1, 100))

    def wander(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        start = next(lines)
        return _call("read_file", path="calc.py", start_line=start, end_line=start)

    builder = _builder(FunctionModel(wander), max_steps=4, progress=ProgressLimits(stale_steps=99))
    result = _build(builder, attempt_worktree)
    assert result.stop_reason is StopReason.STEP_LIMIT
    assert result.usage.requests == 4
    assert result.diff == ""


def test_the_wall_clock_stops_a_slow_attempt(attempt_worktree: Worktree) -> None:
    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(30)
        return _call("finish", summary="never")

    result = _build(_builder(FunctionModel(slow), wall_seconds=0.3), attempt_worktree)
    assert result.stop_reason is StopReason.WALL_CLOCK


def test_an_exhausted_budget_stops_before_any_request(attempt_worktree: Worktree) -> None:
    requests: list[int] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        requests.append(1)
        return _call("finish", summary="done")

    ledger = BudgetLedger()
    scopes = scopes_of("run-1", "1", "p1", 1)
    ledger.set_cap(scopes[2], Cap(tokens=50))
    alias = default_aliases()["openai-standard"]
    budgeted = BudgetedModel(
        FunctionModel(model),
        alias_name="openai-standard",
        alias=alias,
        ledger=ledger,
        scopes=scopes,
        context=CallContext(run_id="run-1", role=Role.BUILDER),
        recorder=MemoryRecorder(),
    )
    result = _build(_builder(budgeted), attempt_worktree)
    assert result.stop_reason is StopReason.BUDGET
    assert "phase" in result.stop_detail
    assert requests == []
    assert ledger.spent(scopes[0]) == Amount()


def test_a_model_that_never_calls_a_tool_is_an_agent_error(attempt_worktree: Worktree) -> None:
    result = _build(
        _builder(_scripted(ModelResponse(parts=[TextPart("I am done.")]))), attempt_worktree
    )
    assert result.stop_reason is StopReason.AGENT_ERROR
    assert result.stop_detail


def test_feedback_and_the_repo_map_reach_the_prompt_and_secrets_do_not(
    attempt_worktree: Worktree,
) -> None:
    seen: list[list[ModelMessage]] = []
    secret = "sk-ant-" + "k" * 40
    (attempt_worktree.path / "settings.py").write_text(f'API_KEY = "{secret}"\n')

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        if len(seen) == 1:
            return _call("read_file", path="settings.py")
        return _call("finish", summary=f"saw {secret}")

    feedback = (
        Feedback(
            kind=FeedbackKind.TEST_FAILURE, summary="test_add failed", detail="assert -1 == 5"
        ),
    )
    builder = AgentBuilder(
        FunctionModel(model), sandbox=NoSandbox(), policy=WritePolicy(), redactor=Redactor([secret])
    )
    result = _build(builder, attempt_worktree, feedback=feedback)
    first = seen[0][0]
    assert isinstance(first, ModelRequest)
    prompt = "".join(
        part.content
        for part in first.parts
        if isinstance(part, UserPromptPart) and isinstance(part.content, str)
    )
    assert "[test_failure] test_add failed" in prompt
    assert "assert -1 == 5" in prompt
    assert "calc.py:" in prompt
    assert "│def add(a, b):" in prompt
    assert result.finished
    assert secret not in result.trajectory[0].observation
    assert "[REDACTED]" in result.trajectory[0].observation
    assert secret not in result.summary
    returned = [
        part
        for message in seen[1]
        for part in getattr(message, "parts", [])
        if isinstance(part, ToolReturnPart)
    ]
    assert secret not in json.dumps([str(part.content) for part in returned])
