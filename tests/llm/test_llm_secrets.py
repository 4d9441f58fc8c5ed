"""Keys are read only from the environment or a named file, and masked wherever text goes."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from autopack.errors import ConfigError
from autopack.llm.keys import api_key, redactor_for
from autopack.llm.redact import MASK, RedactingFilter, Redactor
from autopack.strategy.routing import default_aliases

ANTHROPIC_KEY = "sk-ant-api03-FAKEFAKEFAKE0123456789abcdefghij"
OPENAI_KEY = "sk-proj-FAKE0123456789abcdefghijklmnop"


def test_keys_come_from_the_variable_or_the_file_it_names(tmp_path: Path) -> None:
    alias = default_aliases()["anthropic-top"]
    assert api_key(alias, {"ANTHROPIC_API_KEY": f" {ANTHROPIC_KEY}\n"}) == ANTHROPIC_KEY
    key_file = tmp_path / "anthropic.key"
    key_file.write_text(ANTHROPIC_KEY + "\n")
    assert api_key(alias, {"ANTHROPIC_API_KEY_FILE": str(key_file)}) == ANTHROPIC_KEY
    assert api_key(alias, {}) is None
    assert api_key(default_aliases()["local"], {"ANTHROPIC_API_KEY": ANTHROPIC_KEY}) is None
    with pytest.raises(ConfigError, match="cannot be read"):
        api_key(alias, {"ANTHROPIC_API_KEY_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    "text",
    [
        f"calling with {ANTHROPIC_KEY} now",
        f"Authorization: Bearer {OPENAI_KEY}",
        "aws AKIAABCDEFGHIJKLMNOP here",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        '{"api_key": "abcd1234efgh5678"}',
        "x-api-key: zyxwvutsrq987654",
        "postgresql+psycopg://autopack:hunter2secret@db/autopack",
    ],
)
def test_key_shaped_text_is_masked(text: str) -> None:
    redacted = Redactor().text(text)
    assert MASK in redacted
    for secret in (
        ANTHROPIC_KEY,
        OPENAI_KEY,
        "AKIAABCDEFGHIJKLMNOP",
        "abcd1234efgh5678",
        "zyxwvutsrq987654",
        "hunter2secret",
    ):
        assert secret not in redacted


def test_known_keys_are_masked_even_without_a_key_shape() -> None:
    odd_key = "plainlookingvalue42"
    redactor = redactor_for(default_aliases(), {"OPENAI_API_KEY": odd_key})
    data = redactor.data({"messages": [{"content": f"use {odd_key}"}], "n": 1})
    assert data == {"messages": [{"content": f"use {MASK}"}], "n": 1}


def test_ordinary_text_is_left_alone() -> None:
    text = "def greet(name):\n    return 'hello ' + name  # sk is short for skip\n"
    assert Redactor().text(text) == text


def test_logging_filter_masks_before_handlers() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("autopack.test.redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter(Redactor([ANTHROPIC_KEY])))
    logger.warning("retrying with key %s", ANTHROPIC_KEY)
    logger.removeHandler(handler)
    assert ANTHROPIC_KEY not in stream.getvalue()
    assert MASK in stream.getvalue()
