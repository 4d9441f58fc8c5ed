"""Keep secrets out of logs, transcripts, artefacts, prompts and the database.

Two nets: the exact values of every key Autopack knows (from the variables its aliases name), and
patterns for anything that looks like a key, so a key pasted into a plan or echoed by a tool is
caught too.
"""

from __future__ import annotations

import logging
import re
import traceback
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
