"""What the fake servers say, in each provider's own wire format: scripted replies, bodies, streams, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Reply(BaseModel):
    """One scripted answer, or a fault in its place."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    # The whole prompt; cached (read) and written tokens are parts of it.
    input_tokens: int = 10
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens
    output_tokens: int = 5
    fault: str | None = None
    retry_after: float = 0.05
    delay: float = 0.0


def openai_message(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": openai_usage(reply),
    }


def openai_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_input_tokens},
    }


def openai_stream(reply: Reply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    yield {
        **base,
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    }
    for index, call in enumerate(reply.tool_calls):
        function = {"name": call.name, "arguments": json.dumps(call.arguments)}
        delta = {
            "tool_calls": [
                {"index": index, "id": f"call_{index}", "type": "function", "function": function}
            ]
        }
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    for word in reply.text.split(" ") if reply.text else []:
        yield {
            **base,
            "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
        }
    finish = "tool_calls" if reply.tool_calls else "stop"
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if include_usage:
        yield {**base, "choices": [], "usage": openai_usage(reply)}


def anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": c.name, "input": c.arguments}
        for i, c in enumerate(reply.tool_calls)
    ]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            # Anthropic's input_tokens leave out what was read from and written to the cache.
            "input_tokens": reply.input_tokens
            - reply.cached_input_tokens
            - reply.cache_write_tokens,
            "cache_read_input_tokens": reply.cached_input_tokens,
            "cache_creation_input_tokens": reply.cache_write_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": reply.cache_write_tokens - reply.cache_write_1h_tokens,
                "ephemeral_1h_input_tokens": reply.cache_write_1h_tokens,
            },
            "output_tokens": reply.output_tokens,
        },
    }


def anthropic_stream(reply: Reply, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages API's server-sent events for one reply."""
    message = anthropic_message(reply, model)
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": empty},
            )
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": stop,
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


OPENAI_ERRORS = {
    "429": (429, "rate_limit_exceeded", "Rate limit reached"),
    "500": (500, "server_error", "The server had an error"),
    "503": (503, "server_error", "The engine is currently overloaded"),
    "insufficient_quota": (429, "insufficient_quota", "You exceeded your current quota"),
    "invalid_key": (401, "invalid_api_key", "Incorrect API key provided"),
}
ANTHROPIC_ERRORS = {
    "429": (429, "rate_limit_error", "Rate limited"),
    "500": (500, "api_error", "Internal server error"),
    "503": (529, "overloaded_error", "Overloaded"),
    "insufficient_quota": (400, "invalid_request_error", "Your credit balance is too low"),
    "invalid_key": (401, "authentication_error", "invalid x-api-key"),
}
