"""`autopack models` shows aliases, prices and whether keys are set, never the keys themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app

FAKE_KEY = "sk-ant-test-0123456789abcdefFAKEKEY"


def test_models_reports_key_presence_without_the_key(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runner = CliRunner()
    table = runner.invoke(app, ["models", "--repo", str(git_repo)])
    assert table.exit_code == 0
    assert "ANTHROPIC_API_KEY: yes" in table.stdout
    assert "OPENAI_API_KEY: no" in table.stdout
    as_json = runner.invoke(app, ["models", "--repo", str(git_repo), "--json"])
    views = {view["alias"]: view for view in json.loads(as_json.stdout)["aliases"]}
    assert views["anthropic-top"]["key_present"] is True
    assert views["openai-top"]["key_present"] is False
    assert views["anthropic-standard"]["levels"] == ["standard"]
    assert views["local"]["free"] is True
    assert FAKE_KEY not in table.stdout + as_json.stdout


def test_project_aliases_appear_with_their_prices(git_repo: Path) -> None:
    (git_repo / "autopack.toml").write_text(
        '[models.aliases.gateway]\nprovider = "openai_compatible"\nmodel = "mixtral"\n'
        'base_url = "http://127.0.0.1:4000/v1"\nprice_input_per_mtok = 0.5\nprice_output_per_mtok = 1.5\n'
        'api_key_env = "GATEWAY_KEY"\n'
    )
    result = CliRunner().invoke(app, ["models", "--repo", str(git_repo), "--json"])
    views = {view["alias"]: view for view in json.loads(result.stdout)["aliases"]}
    assert views["gateway"]["price_output_per_mtok"] == "1.5"
    assert views["gateway"]["base_url"] == "http://127.0.0.1:4000/v1"


def test_check_makes_one_tiny_call_per_alias(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autopack.testing.fake_llm import Reply, fake_llm_server

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with fake_llm_server(
        lambda api, request: Reply(text="OK", input_tokens=12, output_tokens=1)
    ) as server:
        (git_repo / "autopack.toml").write_text(
            f'[models.aliases.anthropic-fast]\nbase_url = "{server.anthropic_base_url}"\n'
        )
        result = CliRunner().invoke(
            app,
            [
                "models",
                "--repo",
                str(git_repo),
                "--check",
                "--alias",
                "anthropic-fast",
                "--alias",
                "openai-fast",
                "--json",
            ],
        )
        assert server.calls_per_model["claude-haiku-5-5"] == 1
    checks = {check["alias"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["anthropic-fast"]["ok"] is True
    assert checks["anthropic-fast"]["input_tokens"] == 12
    assert (
        checks["anthropic-fast"]["usd"] == "0.000002"
    )  # shipped prices kept: 12 x $0.10 + 1 x $0.50 per M
    assert checks["openai-fast"] == {
        **checks["openai-fast"],
        "ok": False,
        "detail": "no key: $OPENAI_API_KEY is not set",
    }
    assert result.exit_code == 8


def test_check_of_an_unknown_alias_is_a_config_error(git_repo: Path) -> None:
    result = CliRunner().invoke(
        app, ["models", "--repo", str(git_repo), "--check", "--alias", "nope"]
    )
    assert result.exit_code == 2
    assert "unknown model aliases: nope" in result.stderr
