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
