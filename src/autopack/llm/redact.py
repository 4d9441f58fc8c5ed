"""Keep secrets out of logs, transcripts, artefacts, prompts and the database.

Two nets: the exact values of every key Autopack knows (from the variables its aliases name), and
patterns for anything that looks like a key, so a key pasted into a plan or echoed by a tool is
caught too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"

# Each pattern's `secret` group is masked; the rest of the match is kept for context.
KEY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?P<secret>sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,})"),
    re.compile(r"(?i)bearer\s+(?P<secret>[A-Za-z0-9._~+/=\-]{16,})"),
    re.compile(r"(?P<secret>AKIA[0-9A-Z]{16})"),
    re.compile(r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,})"),
    re.compile(r"(?P<secret>xox[abprs]-[A-Za-z0-9-]{10,})"),
    re.compile(
        r"(?i)[\"']?(?:api[_-]?key|x-api-key|secret|token|password)[\"']?\s*[:=]\s*[\"']?(?P<secret>[^\s\"',}]{8,})"
    ),
    # Credentials inside URLs, e.g. postgresql://user:secret@host/db.
    re.compile(r"://(?P<secret>[^/\s:@]+:[^/\s@]+)@"),
)


def _mask(match: re.Match[str]) -> str:
    start, end = match.span("secret")
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + MASK + whole[end - offset :]


class Redactor:
    def __init__(self, known_secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is masked whole.
        self.known = sorted(
            {secret for secret in known_secrets if len(secret) >= 8}, key=len, reverse=True
        )

    def text(self, value: str) -> str:
        for secret in self.known:
            value = value.replace(secret, MASK)
        for pattern in KEY_PATTERNS:
            value = pattern.sub(_mask, value)
        return value

    def data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's message before any handler sees it."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = ()
        return True
