"""Fake OpenAI and Anthropic servers on 127.0.0.1 that speak the real wire protocols.

They answer from a script (a list of replies, a JSONL file, or a callable), bill the usage they
report, count calls per model, and inject the faults real providers produce: 429 with
Retry-After, 500, 503, answers slower than the client's timeout, truncated JSON, garbage bodies,
insufficient quota and invalid keys; with a rate limit, requests beyond it are refused with 429
as a provider refuses them. With usage_from_request, input tokens are counted from the request
itself and prompt caching is billed as each provider bills it (fake_llm_cache.py), on a clock
tests may move. Tests drive the official SDK clients through them; users can
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
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from autopack.llm.aliases import MILLION, ModelAlias, Provider, default_aliases
from autopack.testing.fake_llm_cache import AnthropicCache, OpenAICache
from autopack.testing.fake_llm_wire import (
    ANTHROPIC_ERRORS,
    OPENAI_ERRORS,
    Reply,
    ToolCall,
    anthropic_message,
    anthropic_stream,
    openai_message,
    openai_stream,
)

__all__ = [
    "Bill",
    "FakeLLMServer",
    "RateWindow",
    "Reply",
    "ToolCall",
    "fake_llm_server",
    "load_script",
]

FAULTS = ("429", "500", "503", "slow", "truncated", "garbage", "insufficient_quota", "invalid_key")


# What Anthropic charges for a cache write, as a multiple of the input price, by TTL.
ANTHROPIC_WRITE_RATE = {"5m": Decimal("1.25"), "1h": Decimal("2")}


@dataclass(frozen=True)
class Bill:
    """One call the server answered with usage, as the provider would charge it. input_tokens is
    the whole prompt; cached (read) and written tokens are parts of it."""

    api: str
    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    def usd(self, alias: ModelAlias) -> Decimal:
        """What the provider charges for this call at the alias's list prices for input, cached
        input and output, and at the provider's own rule for cache writes (Anthropic: 1.25x the
        input price for 5 minutes, 2x for an hour; OpenAI bills none), per call to the micro-dollar."""
        price_in, price_out = alias.price_input_per_mtok, alias.price_output_per_mtok
        if alias.free or price_in is None or price_out is None:
            return Decimal(0)
        price_read = alias.price_cached_input_per_mtok
        if price_read is None:
            price_read = price_in
        written_1h = self.cache_write_1h_tokens
        written_5m = self.cache_write_tokens - written_1h
        fresh = self.input_tokens - self.cached_input_tokens - self.cache_write_tokens
        if self.api == "anthropic":
            writes = price_in * (
                written_5m * ANTHROPIC_WRITE_RATE["5m"] + written_1h * ANTHROPIC_WRITE_RATE["1h"]
            )
        else:
            writes = price_in * self.cache_write_tokens
        total = fresh * price_in + self.cached_input_tokens * price_read + writes
        return ((total + self.output_tokens * price_out) / MILLION).quantize(Decimal("0.000001"))


Script = Sequence[Reply] | Callable[[str, dict[str, Any]], Reply]


def load_script(path: Path) -> list[Reply]:
    """A JSONL file of replies, one JSON object a line."""
    return [
        Reply.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()
    ]


@dataclass(frozen=True)
class RateWindow:
    """A provider's rate limit: at most `requests` accepted in any `seconds`."""

    requests: int
    seconds: float


@dataclass
class FakeLLMServer:
    script: Script
    valid_keys: frozenset[str] = frozenset({"test-key"})
    rate_limit: RateWindow | None = None
    # Count input tokens from each request and bill prompt caching, instead of the scripted counts.
    usage_from_request: bool = False
    # Seconds, for cache lifetimes; a test may pass its own to expire entries without sleeping.
    clock: Callable[[], float] = time.monotonic
    # Every request body received, in order (after rate limiting and key checks).
    requests: list[dict[str, Any]] = field(default_factory=list)
    # When each request the rate limit let through arrived (time.monotonic()).
    accepted_at: list[float] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    calls_per_model: Counter[str] = field(default_factory=Counter)
    faults_served: Counter[str] = field(default_factory=Counter)
    _cursor: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _anthropic_cache: AnthropicCache | None = None
    _openai_cache: OpenAICache | None = None

    def measured(self, api: str, model: str, request: dict[str, Any], reply: Reply) -> Reply:
        """The reply with its input usage counted from the request, caching billed, when the server
        counts usage itself; else the scripted reply as it is."""
        if not self.usage_from_request:
            return reply
        with self._lock:
            if api == "anthropic":
                if self._anthropic_cache is None:
                    self._anthropic_cache = AnthropicCache(self.clock)
                usage = self._anthropic_cache.usage(model, request)
            else:
                if self._openai_cache is None:
                    self._openai_cache = OpenAICache(self.clock)
                usage = self._openai_cache.usage(model, request)
        return reply.model_copy(
            update={
                "input_tokens": usage.input_tokens,
                "cached_input_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "cache_write_1h_tokens": usage.cache_write_1h_tokens,
            }
        )

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

    def over_rate_limit(self) -> float | None:
        """None when one more request keeps within the rate limit (it is counted), else how long
        until it would."""
        now = time.monotonic()
        with self._lock:
            if self.rate_limit is None:
                self.accepted_at.append(now)
                return None
            window = [at for at in self.accepted_at if at > now - self.rate_limit.seconds]
            if len(window) >= self.rate_limit.requests:
                return window[-self.rate_limit.requests] + self.rate_limit.seconds - now
            self.accepted_at.append(now)
            return None

    def record(self, api: str, model: str, reply: Reply) -> Bill:
        bill = Bill(
            api,
            model,
            reply.input_tokens,
            reply.cached_input_tokens,
            reply.output_tokens,
            reply.cache_write_tokens,
            reply.cache_write_1h_tokens,
        )
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

    def billed_usd(self, aliases: dict[str, ModelAlias]) -> Decimal:
        """What the providers would charge for every call billed, each at the alias of its model."""
        by_model = {alias.model: alias for alias in aliases.values()}
        return sum((bill.usd(by_model[bill.model]) for bill in self.bills), Decimal(0))


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
        table = OPENAI_ERRORS if api == "openai" else ANTHROPIC_ERRORS
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
        wait = None if key not in state.valid_keys else state.over_rate_limit()
        if key not in state.valid_keys:
            reply = Reply(fault="invalid_key")
        elif wait is not None:
            # Refused before the script sees it, as a provider refuses before any work.
            reply = Reply(fault="429", retry_after=round(max(wait, 0.01), 3))
        else:
            with state._lock:
                state.requests.append(request)
            reply = state.next_reply(api, request)
        if reply.fault:
            state.faults_served[reply.fault] += 1
        if reply.delay or reply.fault == "slow":
            time.sleep(reply.delay or 5.0)
            if self._client_gone():
                return
        if reply.fault in OPENAI_ERRORS:
            self._error(api, reply.fault, reply)
            return
        if reply.fault == "garbage":
            self._send(200, b"<html>upstream proxy error</html>", "text/html")
            return
        reply = state.measured(api, model, request, reply)
        payload = (
            openai_message(reply, model) if api == "openai" else anthropic_message(reply, model)
        )
        body = json.dumps(payload).encode()
        if reply.fault == "truncated":
            self._send(200, body[: len(body) // 2])
            return
        # The server bills every complete answer it delivers, with the usage the answer reports.
        if api == "anthropic" and request.get("stream"):
            events = b"".join(
                f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                for name, data in anthropic_stream(reply, model)
            )
            self._deliver(api, model, reply, events, "text/event-stream")
            return
        if api == "openai" and request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            events = b"".join(
                f"data: {json.dumps(chunk)}\n\n".encode()
                for chunk in openai_stream(reply, model, include_usage)
            )
            self._deliver(api, model, reply, events + b"data: [DONE]\n\n", "text/event-stream")
            return
        self._deliver(api, model, reply, body, "application/json")


@contextmanager
def fake_llm_server(
    script: Script,
    valid_keys: Sequence[str] = ("test-key",),
    rate_limit: RateWindow | None = None,
    *,
    usage_from_request: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[FakeLLMServer]:
    """Serve on a free loopback port for the duration of the block."""
    state = FakeLLMServer(
        script=script,
        valid_keys=frozenset(valid_keys),
        rate_limit=rate_limit,
        usage_from_request=usage_from_request,
        clock=clock,
    )
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


def alias_on(server: FakeLLMServer, alias_name: str) -> ModelAlias:
    """A shipped model alias pointed at this fake server, on its provider's own wire protocol."""
    alias = default_aliases()[alias_name]
    anthropic = alias.provider is Provider.ANTHROPIC
    base_url = server.anthropic_base_url if anthropic else server.openai_base_url
    return alias.model_copy(update={"base_url": base_url})
