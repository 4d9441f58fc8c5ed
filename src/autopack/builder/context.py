"""The Builder's conversation kept bounded: old observations elided in blocks, a summary near the
window.

pydantic-ai resends the whole conversation at every step, so without this a 40-step attempt sends
its first file read 40 times. Two measures, both applied before each request:

- Elision: a tool observation `elide_after_steps` steps old becomes a one-line stub saying what it
  was and how to get it again; the latest `keep_last_observations` stay whole. Providers cache the
  longest unchanged prefix of a request, so observations are elided only once `elide_block` of
  them are due, all together: the prefix changes once a block, not at every step. Only a tool
  return's content shrinks; the return itself stays, so every tool call keeps its answer (both
  OpenAI and Anthropic refuse a call without one). Tool calls are never touched, so the edits and
  patches the Builder wrote stay in view, and neither is the task message (the phase, its
  acceptance criteria, the earlier attempts' feedback and the repository map).
- Summary: when the next request would still pass `summarise_at_share` of the model's context
  window, the steps before the latest ones are summarised by the fast alias (a model call billed
  like any other) and the summary, with the worktree's current diff, joins the task message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.usage import RunUsage

from autopack.builder.tools import clip
from autopack.llm.tokens import count_tokens, estimate_input_tokens
from autopack.strategy.ruleset import BuilderContextRules

__all__ = [
    "BuilderContextRules",
    "ContextKeeper",
    "elide_observations",
    "elider",
    "estimate_request_tokens",
]

# The output tool's return ("Final result processed") is not an observation.
OUTPUT_TOOL = "finish"
# Observations shorter than this stay: their stub would save nothing.
MIN_ELIDED_TOKENS = 60
_STUB = re.compile(r"^\[[^\n]*: elided, [\d,]+ tokens; [^\n]*\]$")
SUMMARY_MARK = "Summary of the earlier steps of this attempt"
SUMMARY_INSTRUCTIONS = (
    "You summarise the first steps of a coding agent's attempt so it can go on without them. "
    "Keep what it still needs: what it learned about the code (files, functions, line numbers, "
    "conventions), what it changed, what failed and why, and what it meant to do next. "
    "Plain text, at most 400 words."
)
# Each observation as the summariser sees it, and the diff carried in the summary.
SUMMARISED_OBSERVATION_CHARS = 3_000
SUMMARY_DIFF_CHARS = 8_000


def _is_observation(part: object) -> bool:
    return isinstance(part, ToolReturnPart) and part.tool_name != OUTPUT_TOOL


def is_stub(part: ToolReturnPart) -> bool:
    return isinstance(part.content, str) and _STUB.match(part.content) is not None


def _worth_eliding(part: ToolReturnPart) -> bool:
    return not is_stub(part) and count_tokens(part.model_response_str()) >= MIN_ELIDED_TOKENS


def _arguments(call: ToolCallPart | None) -> dict[str, object]:
    if call is None:
        return {}
    try:
        return call.args_as_dict()
    except ValueError:
        return {}


def stub_for(part: ToolReturnPart, call: ToolCallPart | None) -> str:
    """One line: what the observation was, its size, and how to see it again."""
    arguments = _arguments(call)
    if part.tool_name == "read_file":
        start = arguments.get("start_line") or 1
        end = arguments.get("end_line")
        what = f"{arguments.get('path', '?')} from line {start}" + (f" to {end}" if end else "")
        again = "read it again if needed"
    else:
        shown = json.dumps(arguments, sort_keys=True, default=str)
        what = shown if len(shown) <= 100 else shown[:97] + "..."
        again = "call the tool again if needed"
    tokens = count_tokens(part.model_response_str())
    return f"[{part.tool_name} {what}: elided, {tokens:,} tokens; {again}]"


DEFAULT_RULES = BuilderContextRules()


def elide_observations(
    messages: list[ModelMessage], rules: BuilderContextRules = DEFAULT_RULES
) -> list[ModelMessage]:
    """The conversation with its old observations stubbed, in whole blocks.

    A pure function of the messages: observations are numbered in order, each is due once it is
    `elide_after_steps` responses old and not among the latest `keep_last_observations`; the
    first `elide_block * (due // elide_block)` are stubbed. Due observations always form a
    prefix that only grows, so a stub once written stays and the result is stable step to step.
    """
    steps_so_far = sum(1 for message in messages if isinstance(message, ModelResponse))
    ages: list[int] = []
    responses_seen = 0
    for message in messages:
        if isinstance(message, ModelResponse):
            responses_seen += 1
        else:
            ages += [
                steps_so_far - responses_seen for part in message.parts if _is_observation(part)
            ]
    whole = max(0, len(ages) - rules.keep_last_observations)
    due = sum(1 for age in ages[:whole] if age >= rules.elide_after_steps)
    elided = due - due % rules.elide_block
    if elided == 0:
        return messages
    result: list[ModelMessage] = []
    seen = 0
    # A return answers a call of the response just before it (ids repeat across responses with
    # some servers, so they are looked up there only).
    calls: dict[str, ToolCallPart] = {}
    for message in messages:
        if isinstance(message, ModelResponse):
            calls = {p.tool_call_id: p for p in message.parts if isinstance(p, ToolCallPart)}
        elif seen < elided:
            parts: list[ModelRequestPart] = []
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and _is_observation(part):
                    if seen < elided and _worth_eliding(part):
                        part = ToolReturnPart(
                            tool_name=part.tool_name,
                            content=stub_for(part, calls.get(part.tool_call_id)),
                            tool_call_id=part.tool_call_id,
                            timestamp=part.timestamp,
                            outcome=part.outcome,
                        )
                    seen += 1
                parts.append(part)
            message = replace(message, parts=parts)
        result.append(message)
    return result


def elider(
    rules: BuilderContextRules = DEFAULT_RULES,
) -> Callable[[list[ModelMessage]], list[ModelMessage]]:
    """`elide_observations` with its rules bound: a plain pydantic-ai history processor."""
    return lambda messages: elide_observations(messages, rules)


def _part_texts(message: ModelMessage) -> list[str]:
    texts: list[str] = []
    for part in message.parts:
        if isinstance(part, ToolReturnPart):
            texts.append(part.model_response_str())
        elif isinstance(part, ToolCallPart):
            texts.append(f"{part.tool_name} {part.args_as_json_str()}")
        elif isinstance(part, (UserPromptPart, TextPart)):
            texts.append(str(part.content))
        else:
            texts.append(str(getattr(part, "content", "")))
    return texts


def estimate_request_tokens(messages: list[ModelMessage], fixed_tokens: int = 0) -> int:
    """A generous estimate of the request these messages make, plus what every request carries
    (instructions, tool schemas)."""
    texts = [text for message in messages for text in _part_texts(message)]
    return estimate_input_tokens(texts) + fixed_tokens


def _render_for_summary(messages: list[ModelMessage]) -> str:
    lines: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, UserPromptPart) and str(part.content).startswith(SUMMARY_MARK):
                lines.append(str(part.content))
            elif isinstance(part, ToolCallPart):
                lines.append(f"> {part.tool_name} {clip(part.args_as_json_str(), 2_000)}")
            elif isinstance(part, ToolReturnPart):
                observation = part.model_response_str()
                lines.append(clip(observation, SUMMARISED_OBSERVATION_CHARS))
            elif isinstance(part, TextPart) and part.content.strip():
                lines.append(f"(agent) {part.content.strip()}")
    return "\n".join(lines)


@dataclass
class ContextKeeper:
    """One attempt's conversation kept within bounds; `process` is its history processor."""

    rules: BuilderContextRules
    context_window: int
    # Makes the fast alias behind the budgeted stack, when a summary is first due: a key that is
    # missing fails the summary, not an attempt that never needs one. None leaves long histories
    # unsummarised.
    summariser: Callable[[], Model] | None
    current_diff: Callable[[], str]
    # Instructions and tool schemas, sent with every request but not among the messages.
    fixed_tokens: int = 0
    summaries: int = 0
    # The summariser's requests, part of what the attempt used.
    usage: RunUsage = field(default_factory=RunUsage)
    _summariser_model: Model | None = field(default=None, init=False, repr=False)

    async def process(self, messages: list[ModelMessage]) -> list[ModelMessage]:
        messages = elide_observations(messages, self.rules)
        limit = self.rules.summarise_at_share * self.context_window
        if self.summariser is None or estimate_request_tokens(messages, self.fixed_tokens) <= limit:
            return messages
        return await self._summarised(messages)

    async def _summarised(self, messages: list[ModelMessage]) -> list[ModelMessage]:
        responses = [i for i, m in enumerate(messages) if isinstance(m, ModelResponse)]
        kept_steps = max(1, self.rules.keep_last_observations)
        # The task's request, then at least two steps to fold, then the steps kept whole.
        if len(responses) < kept_steps + 2 or not isinstance(messages[0], ModelRequest):
            return messages
        cut = responses[-kept_steps]
        head, folded, tail = messages[0], messages[1:cut], messages[cut:]
        earlier = [
            p
            for p in head.parts
            if isinstance(p, UserPromptPart) and str(p.content).startswith(SUMMARY_MARK)
        ]
        summary = await self._summary([ModelRequest(parts=earlier), *folded] if earlier else folded)
        diff = self.current_diff()
        text = f"{SUMMARY_MARK} (the steps after it follow):\n{summary}\n\n" + (
            f"The worktree's diff so far:\n{clip(diff, SUMMARY_DIFF_CHARS)}"
            if diff.strip()
            else "The worktree is unchanged so far."
        )
        kept = [p for p in head.parts if p not in earlier]
        self.summaries += 1
        return [replace(head, parts=[*kept, UserPromptPart(text)]), *tail]

    async def _summary(self, folded: list[ModelMessage]) -> str:
        assert self.summariser is not None
        if self._summariser_model is None:
            self._summariser_model = self.summariser()
        request = ModelRequest(
            parts=[UserPromptPart(_render_for_summary(folded))],
            instructions=SUMMARY_INSTRUCTIONS,
        )
        response = await self._summariser_model.request([request], None, ModelRequestParameters())
        self.usage.requests += 1
        self.usage.incr(response.usage)
        text = "\n".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
        return text or "(the summariser returned no text)"
