"""`autopack report models` and `autopack plan` under policy learned, through the real commands."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.domain.vocabulary import Complexity, TaskCategory
from autopack.store.engine import open_database
from autopack.testing.model_history import PastAttempt, PastPhase, seed_run

runner = CliRunner()
PLAN = """\
title: Greeting
tiers:
  - id: "1"
    name: One
    phases:
      - id: "1.1"
        title: Add a greeting
        category: feature
        description: Print hello.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "plan.yaml").write_text(PLAN, encoding="utf-8")
    return root


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def _seed(repo: Path) -> None:
    """feature/medium: standard commits 5 of 10 at $0.50 an attempt, fast 10 of 10 at $0.02."""
    settings = load_settings(repo, env={})
    phases = [
        PastPhase(
            f"s{n}",
            TaskCategory.FEATURE,
            Complexity.MEDIUM,
            (PastAttempt("anthropic-standard", 40_000, 4_000, Decimal("0.50")),),
            committed=n < 5,
        )
        for n in range(10)
    ] + [
        PastPhase(
            f"f{n}",
            TaskCategory.FEATURE,
            Complexity.MEDIUM,
            (PastAttempt("anthropic-fast", 40_000, 4_000, Decimal("0.02")),),
            committed=True,
        )
        for n in range(10)
    ]
    database = open_database(settings.database_url)
    try:
        seed_run(
            database,
            settings.aliases,
            project_id=settings.project.id,
            run_id="run-0",
            phases=phases,
        )
    finally:
        database.close()


def test_no_history_says_so_and_creates_no_database(repo: Path) -> None:
    code, out = invoke("report", "models", "--repo", str(repo))
    assert code == 0
    assert (
        out.strip()
        == "No model history in app yet: no ended phase has a Builder call by a configured alias."
    )
    code, out = invoke("report", "models", "--repo", str(repo), "--json")
    assert code == 0
    assert json.loads(out)["models"] == []
    assert not (repo / ".autopack").exists()


def test_plan_under_policy_learned_without_history_keeps_the_table_and_creates_no_database(
    repo: Path,
) -> None:
    (repo / "autopack.toml").write_text('[routing]\npolicy = "learned"\n', encoding="utf-8")
    code, out = invoke("plan", str(repo / "plan.yaml"), "--repo", str(repo))
    assert code == 0
    assert (
        "1.1 builder anthropic-standard: static, routing table: builder at medium complexity -> "
        "standard; anthropic-standard has 0 ended feature/medium phases, fewer than "
        "min_observations 8" in " ".join(out.split())
    )
    assert not (repo / ".autopack").exists()


def test_the_record_per_alias_category_and_complexity(repo: Path) -> None:
    _seed(repo)
    code, out = invoke("report", "models", "--repo", str(repo), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["policy"] == "learned"
    fast, standard = report["models"]
    assert fast == {
        "alias": "anthropic-fast",
        "task_category": "feature",
        "complexity": "medium",
        "phases": 10,
        "attempts": 10,
        "successful_phases": 10,
        "success_rate": 1.0,
        "usd": "0.200000",
        "tokens": 440_000,
        "usd_per_successful_phase": "0.020000",
        "tokens_per_successful_phase": 44_000,
    }
    assert (standard["alias"], standard["successful_phases"], standard["success_rate"]) == (
        "anthropic-standard",
        5,
        0.5,
    )
    assert standard["usd_per_successful_phase"] == "1.000000"
    code, out = invoke("report", "models", "--repo", str(repo))
    assert code == 0
    rows = [line for line in out.splitlines() if "anthropic-" in line]
    assert len(rows) == 2
    for cell in ("anthropic-fast", "feature", "medium", "100%", "$0.0200", "44k"):
        assert cell in rows[0]
    for cell in ("anthropic-standard", "50%", "$1.0000", "88k"):
        assert cell in rows[1]


def test_plan_says_which_policy_chose_each_model_and_why(repo: Path) -> None:
    _seed(repo)
    plan = str(repo / "plan.yaml")
    (repo / "autopack.toml").write_text('[routing]\npolicy = "static"\n', encoding="utf-8")
    code, out = invoke("plan", plan, "--repo", str(repo))
    assert code == 0
    assert "1.1 builder anthropic-standard: static, routing table: builder at medium" in out
    # Learned, by default.
    (repo / "autopack.toml").unlink()
    code, out = invoke("plan", plan, "--repo", str(repo))
    assert code == 0
    assert (
        "1.1 builder anthropic-fast: learned, anthropic-fast $0.0200/successful phase over 10 "
        "feature/medium phases" in " ".join(out.split())
    )
    assert "1.1 auditor anthropic-standard: static" in out
    code, out = invoke("plan", plan, "--repo", str(repo), "--json")
    phase = json.loads(out)["runs"][0]["tiers"][0]["phases"][0]
    assert phase["models"]["builder"] == "anthropic-fast"
    assert phase["routes"]["builder"]["policy"] == "learned"
    assert phase["routes"]["builder"]["static_alias"] == "anthropic-standard"
