"""The fake servers' prompt caches: input tokens counted from the request itself, and the part of
them each provider would read from or write to its prompt cache, as the providers document it.

A request is cut into blocks in the order the provider reads them (Anthropic: tools, system,
then each message's content blocks; OpenAI: the tools, then each message); each block counts the
o200k tokens of its canonical JSON (without cache_control, which marks a block and is not content),
so counts are deterministic and the same with caching on or off.

Anthropic caches only at breakpoints (`cache_control` on a block, or the top-level automatic one
on the conversation's last block): a breakpoint whose prefix reaches the model's minimum cacheable
length writes an entry for its TTL; a later request reads the longest entry found at a breakpoint
or up to 20 blocks before it, and a read refreshes the entry's TTL. OpenAI caches every prefix it
has seen for a prompt cache key and serves a repeat of at least 1,024 tokens in 128-token steps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from autopack.llm.tokens import count_tokens

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
# Anthropic checks for a cache hit at each breakpoint and this many blocks before it.
ANTHROPIC_LOOKBACK_BLOCKS = 20
OPENAI_MIN_CACHED = 1024
OPENAI_CACHE_STEP = 128
# OpenAI keeps a prefix while it is used, for 5 to 10 minutes of inactivity.
OPENAI_RETENTION_SECONDS = 600.0


def anthropic_min_cacheable(model: str) -> int:
    """Anthropic's minimum cacheable prompt: 2,048 tokens on Haiku models, 1,024 on the others."""
    return 2048 if "haiku" in model else 1024


@dataclass(frozen=True)
class CacheUsage:
    """A request's input as the provider bills it: all of it, and the cached and written parts."""

    input_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens


@dataclass(frozen=True)
class _Block:
    digest: str  # of the whole prefix ending with this block
    tokens: int  # of the whole prefix ending with this block
    ttl: str | None  # the breakpoint's TTL, None when the block is not a breakpoint


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if key != "cache_control"}
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _prefixes(seed: str, pieces: Iterator[tuple[Any, str | None]]) -> list[_Block]:
    blocks: list[_Block] = []
    digest, tokens = hashlib.sha256(seed.encode()).hexdigest(), 0
    for content, ttl in pieces:
        text = _canonical(content)
        digest = hashlib.sha256((digest + text).encode()).hexdigest()
        tokens += count_tokens(text)
        blocks.append(_Block(digest, tokens, ttl))
    return blocks


def _ttl(block: Any) -> str | None:
    if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
        return str(block["cache_control"].get("ttl", "5m"))
    return None


def _anthropic_pieces(request: dict[str, Any]) -> Iterator[tuple[Any, str | None]]:
    for tool in request.get("tools") or []:
        yield tool, _ttl(tool)
    system = request.get("system")
    if isinstance(system, str) and system:
        yield {"type": "text", "text": system}, None
    for block in system if isinstance(system, list) else []:
        yield block, _ttl(block)
    messages = request.get("messages") or []
    automatic = request.get("cache_control")
    for index, message in enumerate(messages):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for position, block in enumerate(blocks):
            ttl = _ttl(block)
            last = index == len(messages) - 1 and position == len(blocks) - 1
            if last and ttl is None and isinstance(automatic, dict):
                ttl = str(automatic.get("ttl", "5m"))
            yield {"role": message.get("role"), "block": block}, ttl


@dataclass
class _Entry:
    tokens: int
    expires_at: float
    seconds: float


@dataclass
class AnthropicCache:
    clock: Callable[[], float]
    entries: dict[str, _Entry] = field(default_factory=dict)

    def usage(self, model: str, request: dict[str, Any]) -> CacheUsage:
        blocks = _prefixes(model, _anthropic_pieces(request))
        total = blocks[-1].tokens if blocks else 0
        now = self.clock()
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        hit: _Entry | None = None
        for index in breakpoints:
            for earlier in range(index, max(index - ANTHROPIC_LOOKBACK_BLOCKS, -1), -1):
                entry = self.entries.get(blocks[earlier].digest)
                if entry and entry.expires_at > now and (hit is None or entry.tokens > hit.tokens):
                    hit = entry
        read = 0
        if hit is not None:
            read = hit.tokens
            hit.expires_at = now + hit.seconds
        written: dict[str, int] = {"5m": 0, "1h": 0}
        reached = read
        for index in breakpoints:
            block = blocks[index]
            ttl = block.ttl or "5m"
            if block.tokens <= reached or block.tokens < anthropic_min_cacheable(model):
                continue
            written[ttl] += block.tokens - reached
            reached = block.tokens
            seconds = TTL_SECONDS[ttl]
            self.entries[block.digest] = _Entry(block.tokens, now + seconds, seconds)
        return CacheUsage(total, read, written["5m"] + written["1h"], written["1h"])


@dataclass
class OpenAICache:
    clock: Callable[[], float]
    entries: dict[str, _Entry] = field(default_factory=dict)

    def usage(self, model: str, request: dict[str, Any]) -> CacheUsage:
        # Requests under one prompt cache key are routed to the same cache; others do not share it.
        seed = f"{model}|{request.get('prompt_cache_key') or ''}"
        tools = request.get("tools")
        pieces = [(tools, None)] if tools else []
        pieces += [(message, None) for message in request.get("messages") or []]
        blocks = _prefixes(seed, iter(pieces))
        now = self.clock()
        seen = 0
        for block in blocks:
            entry = self.entries.get(block.digest)
            if entry is None or entry.expires_at <= now:
                break
            seen = block.tokens
        for block in blocks:
            self.entries[block.digest] = _Entry(
                block.tokens, now + OPENAI_RETENTION_SECONDS, OPENAI_RETENTION_SECONDS
            )
        cached = 0
        if seen >= OPENAI_MIN_CACHED:
            cached = seen - (seen - OPENAI_MIN_CACHED) % OPENAI_CACHE_STEP
        return CacheUsage(blocks[-1].tokens if blocks else 0, cached)
