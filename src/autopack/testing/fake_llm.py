"""Fake OpenAI and Anthropic servers on 127.0.0.1 that speak the real wire protocols.

They answer from a script (a list of replies, a JSONL file, or a callable), bill the usage they
report, count calls per model, and inject the faults real providers produce: 429 with
Retry-After, 500, 503, answers slower than the client's timeout, truncated JSON, garbage bodies,
insufficient quota and invalid keys. Tests drive the official SDK clients through them; users can
try Autopack offline with them.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FAULTS = ("429", "500", "503", "slow", "truncated", "garbage", "insufficient_quota", "invalid_key")


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Reply(BaseModel):
    """One scripted answer, or a fault in its place."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 10
    cached_input_tokens: int = 0
    output_tokens: int = 5
    fault: str | None = None
    retry_after: float = 0.05
    delay: float = 0.0


@dataclass(frozen=True)
class Bill:
    """One call the server answered with usage, as the provider would charge it."""

    api: str
    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int


Script = Sequence[Reply] | Callable[[str, dict[str, Any]], Reply]


def load_script(path: Path) -> list[Reply]:
    """A JSONL file of replies, one JSON object a line."""
    return [
        Reply.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()
    ]


@dataclass
class FakeLLMServer:
    script: Script
    valid_keys: frozenset[str] = frozenset({"test-key"})
    bills: list[Bill] = field(default_factory=list)
    calls_per_model: Counter[str] = field(default_factory=Counter)
    faults_served: Counter[str] = field(default_factory=Counter)
    _cursor: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_reply(self, api: str, request: dict[str, Any]) -> Reply:
        with self._lock:
            if callable(self.script):
                return self.script(api, request)
            if self._cursor >= len(self.script):
                return Reply(text="(the script has no more replies)")
            reply = self.script[self._cursor]
            self._cursor += 1
            return reply

    def record(self, api: str, model: str, reply: Reply) -> Bill:
        bill = Bill(api, model, reply.input_tokens, reply.cached_input_tokens, reply.output_tokens)
        with self._lock:
            self.calls_per_model[model] += 1
            self.bills.append(bill)
        return bill

    def unrecord(self, bill: Bill) -> None:
        """The answer could not be delivered after all: it is not billed."""
        with self._lock:
            self.calls_per_model[bill.model] -= 1
            self.bills.remove(bill)

    def billed_tokens(self) -> int:
        return sum(b.input_tokens + b.output_tokens for b in self.bills)


def _openai_message(reply: Reply, model: str) -> dict[str, Any]:
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
        "usage": _openai_usage(reply),
    }


def _openai_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_input_tokens},
    }


def _openai_stream(reply: Reply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
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
        yield {**base, "choices": [], "usage": _openai_usage(reply)}


def _anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
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
            "input_tokens": reply.input_tokens - reply.cached_input_tokens,
            "cache_read_input_tokens": reply.cached_input_tokens,
            "cache_creation_input_tokens": 0,
            "output_tokens": reply.output_tokens,
        },
    }


def _anthropic_stream(reply: Reply, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages API's server-sent events for one reply."""
    message = _anthropic_message(reply, model)
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


_OPENAI_ERRORS = {
    "429": (429, "rate_limit_exceeded", "Rate limit reached"),
    "500": (500, "server_error", "The server had an error"),
    "503": (503, "server_error", "The engine is currently overloaded"),
    "insufficient_quota": (429, "insufficient_quota", "You exceeded your current quota"),
    "invalid_key": (401, "invalid_api_key", "Incorrect API key provided"),
}
_ANTHROPIC_ERRORS = {
    "429": (429, "rate_limit_error", "Rate limited"),
    "500": (500, "api_error", "Internal server error"),
    "503": (529, "overloaded_error", "Overloaded"),
    "insufficient_quota": (400, "invalid_request_error", "Your credit balance is too low"),
    "invalid_key": (401, "authentication_error", "invalid x-api-key"),
}


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeLLMServer  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bool:
        """False when the client had already gone (e.g. it timed out): nothing was delivered."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def _deliver(self, api: str, model: str, reply: Reply, body: bytes, content_type: str) -> None:
        # Billed before the bytes leave, so a client that has its answer always sees it billed.
        bill = self.server_state.record(api, model, reply)
        if not self._send(200, body, content_type):
            self.server_state.unrecord(bill)

    def _client_gone(self) -> bool:
        """Whether the client hung up while we were slow (a timeout on its side): nothing to deliver."""
        ready, _, _ = select.select([self.connection], [], [], 0)
        if not ready:
            return False
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except OSError:
            return True

    def _error(self, api: str, fault: str, reply: Reply) -> None:
        table = _OPENAI_ERRORS if api == "openai" else _ANTHROPIC_ERRORS
        status, code, message = table[fault]
        body: dict[str, Any]
        if api == "openai":
            body = {"error": {"message": message, "type": code, "code": code, "param": None}}
        else:
            body = {"type": "error", "error": {"type": code, "message": message}}
        headers = {"Retry-After": f"{reply.retry_after}"} if fault == "429" else {}
        self._send(status, json.dumps(body).encode(), headers=headers)

    def do_POST(self) -> None:
        state = self.server_state
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, b'{"error": {"message": "invalid JSON"}}')
            return
        if self.path.rstrip("/").endswith("/chat/completions"):
            api, key = (
                "openai",
                self.headers.get("Authorization", "").removeprefix("Bearer ").strip(),
            )
        elif self.path.rstrip("/").endswith("/messages"):
            # Anthropic's SDKs have sent the key as x-api-key and, more recently, as a bearer token.
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            api, key = "anthropic", self.headers.get("x-api-key", "") or bearer
        else:
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        model = str(request.get("model", ""))
        reply = (
            Reply(fault="invalid_key")
            if key not in state.valid_keys
            else state.next_reply(api, request)
        )
        if reply.fault:
            state.faults_served[reply.fault] += 1
        if reply.delay or reply.fault == "slow":
            time.sleep(reply.delay or 5.0)
            if self._client_gone():
                return
        if reply.fault in _OPENAI_ERRORS:
            self._error(api, reply.fault, reply)
            return
        if reply.fault == "garbage":
            self._send(200, b"<html>upstream proxy error</html>", "text/html")
            return
        payload = (
            _openai_message(reply, model) if api == "openai" else _anthropic_message(reply, model)
        )
        body = json.dumps(payload).encode()
        if reply.fault == "truncated":
            self._send(200, body[: len(body) // 2])
            return
        # The server bills every complete answer it delivers, with the usage the answer reports.
        if api == "anthropic" and request.get("stream"):
            events = b"".join(
                f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                for name, data in _anthropic_stream(reply, model)
            )
            self._deliver(api, model, reply, events, "text/event-stream")
            return
        if api == "openai" and request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            events = b"".join(
                f"data: {json.dumps(chunk)}\n\n".encode()
                for chunk in _openai_stream(reply, model, include_usage)
            )
            self._deliver(api, model, reply, events + b"data: [DONE]\n\n", "text/event-stream")
            return
        self._deliver(api, model, reply, body, "application/json")


@contextmanager
def fake_llm_server(
    script: Script, valid_keys: Sequence[str] = ("test-key",)
) -> Iterator[FakeLLMServer]:
    """Serve on a free loopback port for the duration of the block."""
    state = FakeLLMServer(script=script, valid_keys=frozenset(valid_keys))
    handler = type("BoundHandler", (_Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Handlers may sit on idle keep-alive connections; they must not hold up the close.
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
