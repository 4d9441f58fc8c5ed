"""Keep secrets out of logs, transcripts, artefacts, prompts and the database.

Two nets: the exact values of every key Autopack knows (from the variables its aliases name), and
patterns for anything that looks like a key, so a key pasted into a plan or echoed by a tool is
caught too.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "[REDACTED]"
KNOWN_KEY = "known key"

# Keys are tokens of their own: `task-scheduling-and-notification` must not read as `sk-...`.
_START = r"(?<![A-Za-z0-9])"


@dataclass(frozen=True)
class KeyShape:
    """What a kind of secret looks like; its pattern's `secret` group is masked, the rest kept."""

    kind: str
    pattern: re.Pattern[str]
    # Found by what stands before it (`Bearer`, `token:`) rather than by its own shape, so in prose
    # the "secret" is often an ordinary word ("password: required").
    by_context: bool = False


KEY_SHAPES: tuple[KeyShape, ...] = (
    KeyShape("anthropic key", re.compile(_START + r"(?P<secret>sk-ant-[A-Za-z0-9_\-]{20,})")),
    KeyShape("openai key", re.compile(_START + r"(?P<secret>sk-(?:proj-)?[A-Za-z0-9_\-]{20,})")),
    KeyShape("aws access key", re.compile(_START + r"(?P<secret>AKIA[0-9A-Z]{16})")),
    KeyShape("github token", re.compile(_START + r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,})")),
    KeyShape("slack token", re.compile(_START + r"(?P<secret>xox[abprs]-[A-Za-z0-9-]{10,})")),
    KeyShape(
        "bearer token",
        re.compile(r"(?i)bearer\s+(?P<secret>[A-Za-z0-9._~+/=\-]{16,})"),
        by_context=True,
    ),
    KeyShape(
        "credential",
        re.compile(
            r"(?i)[\"']?(?:api[_-]?key|x-api-key|secret|token|password)[\"']?\s*[:=]\s*[\"']?(?P<secret>[^\s\"',}]{8,})"
        ),
        by_context=True,
    ),
    # Credentials inside URLs, e.g. postgresql://user:secret@host/db.
    KeyShape("url credentials", re.compile(r"://(?P<secret>[^/\s:@]+:[^/\s@]+)@")),
)


@dataclass(frozen=True)
class Found:
    """A secret at `value[start:end]`, and what kind of secret it is (never the secret itself)."""

    start: int
    end: int
    kind: str


def _generated(value: str) -> bool:
    """Keys are generated: letters and digits both. Words people write rarely mix them."""
    return any(char.isdigit() for char in value) and any(char.isalpha() for char in value)


def always_mask(_kind: str) -> str:
    return MASK


class Redactor:
    def __init__(self, known_secrets: Iterable[str] | Mapping[str, str] = ()):
        """`known_secrets`: exact values to mask, or a mapping of each value to its kind."""
        kinds = (
            dict(known_secrets)
            if isinstance(known_secrets, Mapping)
            else dict.fromkeys(known_secrets, KNOWN_KEY)
        )
        # Longest first, so a secret that contains another is reported as the longer one.
        self.known = sorted(
            ((secret, kind) for secret, kind in kinds.items() if len(secret) >= 8),
            key=lambda item: len(item[0]),
            reverse=True,
        )

    def find(self, value: str, *, prose: bool = False) -> list[Found]:
        """Every secret in `value`, in order, overlapping finds merged into one.

        `prose`: the text is written by people (a plan), so a value found only by context must
        also look generated; logs and prompts mask any such value, words included.
        """
        found: list[Found] = []
        for secret, kind in self.known:
            start = value.find(secret)
            while start != -1:
                found.append(Found(start, start + len(secret), kind))
                start = value.find(secret, start + len(secret))
        for shape in KEY_SHAPES:
            for match in shape.pattern.finditer(value):
                if prose and shape.by_context and not _generated(match.group("secret")):
                    continue
                start, end = match.span("secret")
                found.append(Found(start, end, shape.kind))
        # Stable sort: at the same start, a known key and then the earlier shape names the find.
        found.sort(key=lambda item: item.start)
        merged: list[Found] = []
        for item in found:
            if merged and item.start < merged[-1].end:
                last = merged[-1]
                merged[-1] = Found(last.start, max(last.end, item.end), last.kind)
            else:
                merged.append(item)
        return merged

    def text(
        self, value: str, *, mask: Callable[[str], str] = always_mask, prose: bool = False
    ) -> str:
        """`value` with each secret replaced by `mask(kind)`: masks are never themselves re-read."""
        out: list[str] = []
        position = 0
        for item in self.find(value, prose=prose):
            out += [value[position : item.start], mask(item.kind)]
            position = item.end
        out.append(value[position:])
        return "".join(out)

    def data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


class DeferredRedactor(Redactor):
    """A Redactor whose known keys are looked up when it first reads a text, not when it is made.

    The CLI installs one before parsing its arguments: finding the shipped aliases' keys builds
    the aliases, which `autopack --help` should not pay for.
    """

    def __init__(self, build: Callable[[], Redactor]):
        super().__init__()
        self._build = build
        self._ready = False
        # Re-entrant: a line logged while building is read by the same thread, with no known keys.
        self._lock = threading.RLock()

    def find(self, value: str, *, prose: bool = False) -> list[Found]:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    build, self._build = self._build, Redactor
                    self.known = build().known
                    self._ready = True
        return super().find(value, prose=prose)


def install_log_redaction(redactor: Redactor) -> None:
    """Every log record of the process is redacted as it is made, whichever logger, library or
    handler it goes to (a filter on one logger misses records its children propagate)."""
    current = logging.getLogRecordFactory()
    base = getattr(current, "autopack_base", current)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its message is still logged
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redactor.text(message), ()
        if record.exc_info and record.exc_info[0] is not None:
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redactor.text(formatted)
        return record

    factory.autopack_base = base  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
