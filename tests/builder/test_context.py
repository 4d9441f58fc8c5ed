"""The Builder's history processor on real pydantic-ai messages: old observations stubbed in
blocks, every tool call still answered, the task message never touched, a summary near the window."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from pydantic import ValidationError
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

from autopack.builder.context import (
    SUMMARY_MARK,
    ContextKeeper,
    elide_observations,
    elider,
    estimate_request_tokens,
    is_stub,
)
from autopack.config import describe_validation_error, load_settings
from autopack.errors import ConfigError
from autopack.strategy.ruleset import BuilderContextRules, Ruleset

TASK = (
    "# Phase 1.1: Add subtract\n\nThis is attempt 2. Earlier attempts left this to fix:\n"
    "- [test_failure] test_subtract fails\n\nRepository map (the definitions most relevant):\n"
    "calc/ops.py: def add(a, b)"
)
RULES = BuilderContextRules(elide_after_steps=4, keep_last_observations=3, elide_block=5)


def _file(step: int) -> str:
    return "\n".join(f"{n:>5}│value_{step}_{n} = compute({n}, step={step})" for n in range(1, 80))


def _step(step: int) -> tuple[ModelResponse, ModelRequest]:
    call = ToolCallPart("read_file", {"path": f"pkg/m{step}.py"}, tool_call_id=f"call-{step}")
    answer = ToolReturnPart("read_file", _file(step), tool_call_id=f"call-{step}")
    return ModelResponse(parts=[call]), ModelRequest(parts=[answer])


def _observations(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


def _conversation(steps: int, rules: BuilderContextRules = RULES) -> list[list[ModelMessage]]:
    """Each request of an attempt as the agent sends it: the processed history (pydantic-ai keeps
    the processor's output as the history) plus the newest step."""
    history: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(TASK)])]
    sent = []
    for step in range(1, steps + 1):
        history = elide_observations(history, rules)
        sent.append(history)
        history = [*history, *_step(step)]
    return sent


def test_old_observations_become_stubs_in_whole_blocks_at_the_right_step() -> None:
    sent = _conversation(30)
    for request in sent:
        stubbed = [is_stub(part) for part in _observations(request)]
        count = sum(stubbed)
        assert stubbed == [True] * count + [False] * (len(stubbed) - count)  # a prefix
        assert count % RULES.elide_block == 0
        # Never one of the latest, never one younger than elide_after_steps.
        assert count <= max(0, len(stubbed) - RULES.keep_last_observations)
        assert count <= max(0, len(stubbed) - RULES.elide_after_steps + 1)
    counts = [sum(map(is_stub, _observations(request))) for request in sent]
    # Request n carries n-1 observations after n-1 responses; observation i is 4 steps old at
    # request i + 5, so five are due at request 10 and ten at request 15.
    assert counts[8] == 0
    assert counts[9] == 5
    assert counts[13] == 5
    assert counts[14] == 10
    stub = _observations(sent[9])[0].content
    assert stub.startswith("[read_file pkg/m1.py from line 1: elided, ")
    assert stub.endswith(" tokens; read it again if needed]")


def test_the_request_prefix_changes_only_at_block_boundaries() -> None:
    sent = _conversation(40)
    changed = [
        number
        for number, (before, after) in enumerate(itertools.pairwise(sent), 2)
        if after[: len(before)] != before
    ]
    assert changed == [10, 15, 20, 25, 30, 35, 40]


def test_every_tool_call_keeps_exactly_one_answer_and_the_task_is_untouched() -> None:
    final = _conversation(30)[-1]
    assert [part.content for part in final[0].parts] == [TASK]  # type: ignore[union-attr]
    calls = [
        (part.tool_call_id, part.tool_name)
        for message in final
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]
    answers = [(part.tool_call_id, part.tool_name) for part in _observations(final)]
    assert answers == calls
    # Requests and responses still alternate, as both wire formats need.
    kinds = [type(message) for message in final]
    assert kinds == [ModelRequest, *[ModelResponse, ModelRequest] * 29]


def test_processing_is_stable_and_short_observations_stay() -> None:
    history: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(TASK)])]
    for step in range(1, 12):
        call = ToolCallPart("run_command", {"command": "pytest"}, tool_call_id=f"c{step}")
        history += [
            ModelResponse(parts=[call]),
            ModelRequest(
                parts=[ToolReturnPart("run_command", "exit code 0", tool_call_id=f"c{step}")]
            ),
        ]
    assert elide_observations(history, RULES) == history  # a stub would be longer
    long = [*_conversation(20)[-1]]
    once = elide_observations(long, RULES)
    assert elide_observations(once, RULES) == once
    assert elider(RULES)(long) == once


def test_rules_refuse_bad_values_naming_the_key() -> None:
    with pytest.raises(ValidationError) as refused:
        Ruleset.model_validate({"builder_context": {"elide_block": 0}})
    assert describe_validation_error(refused.value).startswith("builder_context.elide_block:")
    with pytest.raises(ValidationError) as refused:
        Ruleset.model_validate({"builder_context": {"summarise_at_share": 1.5}})
    assert "builder_context.summarise_at_share" in describe_validation_error(refused.value)
    with pytest.raises(ValidationError):
        Ruleset.model_validate({"builder_context": {"elide_after": 3}})  # a misspelt key


def test_a_bad_value_in_autopack_toml_is_one_error_naming_its_key(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text(
        '[project]\nid = "x"\n[ruleset.builder_context]\nkeep_last_observations = -1\n'
    )
    with pytest.raises(ConfigError, match=r"ruleset\.builder_context\.keep_last_observations: "):
        load_settings(tmp_path)


def test_near_the_window_the_earlier_steps_become_one_summary_beside_the_task() -> None:
    asked: list[str] = []

    def summarise(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        first = messages[0]
        assert isinstance(first, ModelRequest)
        asked.append(str(first.parts[0].content))  # type: ignore[union-attr]
        return ModelResponse(parts=[TextPart("Read m1..m26; nothing changed yet.")])

    history = [*_conversation(30)[-1]]
    window = int(estimate_request_tokens(history) * 1.5)  # 60% of it is 90% of the history
    keeper = ContextKeeper(
        rules=RULES,
        context_window=window,
        summariser=lambda: FunctionModel(summarise),
        current_diff=lambda: "diff --git a/calc/ops.py b/calc/ops.py\n+def subtract(a, b): ...",
    )
    kept = asyncio.run(keeper.process(history))
    assert keeper.summaries == 1
    assert len(asked) == 1
    assert keeper.usage.requests == 1  # reported with the attempt's usage
    assert "pkg/m1.py" in asked[0]
    assert "pkg/m26.py" in asked[0]
    task, summary = kept[0].parts
    assert isinstance(task, UserPromptPart)
    assert task.content == TASK
    assert isinstance(summary, UserPromptPart)
    assert summary.content.startswith(SUMMARY_MARK)
    assert "Read m1..m26" in summary.content
    assert "+def subtract" in summary.content
    # The latest three steps stay whole and answered; requests and responses still alternate.
    assert [part.tool_call_id for part in _observations(kept)] == ["call-27", "call-28", "call-29"]
    assert [type(m) for m in kept] == [ModelRequest, *[ModelResponse, ModelRequest] * 3]
    assert estimate_request_tokens(kept) < RULES.summarise_at_share * window
    # Under the share, nothing is summarised.
    assert asyncio.run(keeper.process(kept)) == kept
    assert keeper.summaries == 1


def test_the_latest_observations_stay_whole_however_old() -> None:
    rules = BuilderContextRules(elide_after_steps=1, keep_last_observations=6, elide_block=2)
    for request in _conversation(20, rules):
        observations = _observations(request)
        assert not any(is_stub(part) for part in observations[-6:])
    assert sum(map(is_stub, _observations(_conversation(20, rules)[-1]))) == 12
