"""Keys are read only from the environment or a named file, and masked wherever text goes."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app, main
from autopack.errors import ConfigError
from autopack.llm.aliases import default_aliases
from autopack.llm.keys import api_key, redactor_for
from autopack.llm.redact import MASK, Redactor

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


def test_the_cli_redacts_every_log_record_of_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a child logger to a root handler, in the message, its args and a traceback."""
    original = logging.getLogRecordFactory()
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setattr(sys, "argv", ["autopack", "--help"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with pytest.raises(SystemExit):
            main()
        child = logging.getLogger("some.library.deep")
        child.warning("calling with %s", ANTHROPIC_KEY)
        child.warning("bearer token ghp_" + "a" * 36)
        try:
            raise RuntimeError(f"provider refused key {ANTHROPIC_KEY}")
        except RuntimeError:
            child.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.setLogRecordFactory(original)
    logged = stream.getvalue()
    assert ANTHROPIC_KEY not in logged
    assert "ghp_" + "a" * 36 not in logged
    assert logged.count(MASK) >= 3
    assert "RuntimeError: provider refused key" in logged


def test_a_project_alias_key_value_is_kept_out_of_logs_whatever_its_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key of an alias only the project defines, in a variable no shipped alias names."""
    secret = "plainwordsecretvalue42"
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "autopack.toml").write_text(
        '[project]\nid = "p"\n[models.aliases.in-house]\nprovider = "openai"\n'
        'model = "in-house-1"\napi_key_env = "IN_HOUSE_KEY"\n'
        "price_input_per_mtok = 1\nprice_output_per_mtok = 2\ncontext_window = 32000\n"
    )
    monkeypatch.setenv("IN_HOUSE_KEY", secret)
    original = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        result = CliRunner().invoke(app, ["models", "--repo", str(repo), "--json"])
        assert result.exit_code == 0, result.output
        logging.getLogger("a.library").warning("connecting with %s", secret)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.setLogRecordFactory(original)
    assert secret not in stream.getvalue()
    assert MASK in stream.getvalue()
