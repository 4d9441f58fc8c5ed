"""Phase 0: a phase asking for a catalog feature becomes a cheaper, audited external_feature_reuse phase."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from autopack.builder.base import BuildRequest
from autopack.builder.modes import MODE_PROFILES
from autopack.builder.prompts import task_message
from autopack.cli.main import app
from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.strategy import Strategy
from autopack.domain.vocabulary import CIProfile, RunScope, TaskCategory
from autopack.llm.aliases import default_aliases
from autopack.plan.bootstrap import bootstrap_plan
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset
from autopack.workspace.base import Worktree


def plan_of(*phases: PhaseSpec) -> PlanSpec:
    return PlanSpec(title="Plan", tiers=(TierSpec(id="1", name="One", phases=phases),))


def phase(phase_id: str, title: str, **fields: object) -> PhaseSpec:
    return PhaseSpec.model_validate({"id": phase_id, "title": title, "tier_id": "1", **fields})


def strategy_of(plan: PlanSpec, repo: Path, ruleset: Ruleset) -> Strategy:
    phase0 = bootstrap_plan(plan, repo, ruleset.reuse)
    return compile_strategy(
        StrategyInputs(
            run_id="run-1",
            project_id="p",
            plan=phase0.plan,
            ruleset=ruleset,
            routing=Routing(),
            aliases=default_aliases(),
            run_scope=RunScope.MULTI_TIER,
            stack_profile=phase0.stack_profile,
            stack_reason=phase0.stack_reason,
            reuse=phase0.reuse,
        )
    )


@pytest.fixture
def python_repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return tmp_path


@pytest.mark.parametrize("reduction", ["0.4", "0.5", "0.6"])
def test_a_matched_feature_becomes_a_reuse_phase_with_a_reduced_budget(
    python_repo: Path, reduction: str
) -> None:
    ruleset = Ruleset.model_validate({"reuse": {"token_budget_reduction": reduction}})
    plan = plan_of(
        phase("1.1", "Sign users in", description="Issue and check a JSON Web Token per request."),
        # The same category with nothing from the catalog: the budget it would have had.
        phase("1.2", "Port the session store", category="external_feature_reuse"),
        phase("1.3", "Write the changelog"),
    )
    strategy = strategy_of(plan, python_repo, ruleset)
    reused, unmatched, plain = strategy.phases

    assert reused.task_category is TaskCategory.EXTERNAL_FEATURE_REUSE
    assert reused.high_risk
    assert reused.ci_profile is CIProfile.STRICT
    assert reused.category_reason == "Phase 0 reuses catalog feature jwt-auth"
    assert reused.reuse is not None
    assert reused.reuse.source_repo == "jpadilla/pyjwt"
    keep = 1 - Decimal(reduction)
    assert reused.budget.tokens == int(unmatched.budget.tokens * keep)
    assert reused.budget.usd == (unmatched.budget.usd * keep).quantize(Decimal("0.0001"))
    assert unmatched.reuse is None
    assert plain.reuse is None
    assert plain.task_category is not TaskCategory.EXTERNAL_FEATURE_REUSE

    assert strategy.stack_profile == "python-pytest"
    assert strategy.stack_reason == "pyproject.toml found"
    [decision] = strategy.reuse_decisions
    assert decision.reused
    assert decision.phase_id == "1.1"
    assert "json web token" in decision.reason
    assert f"cut by {Decimal(reduction) * 100:.0f}%" in decision.reason


def test_a_phase_with_an_explicit_category_keeps_it_and_says_why(python_repo: Path) -> None:
    plan = plan_of(phase("1.1", "Add a rate limit to the API", category="feature"))
    strategy = strategy_of(plan, python_repo, Ruleset())
    assert strategy.phases[0].task_category is TaskCategory.FEATURE
    assert strategy.phases[0].reuse is None
    [decision] = strategy.reuse_decisions
    assert not decision.reused
    assert decision.reason.endswith("not reused: the plan sets category feature")


def test_a_low_quality_feature_is_not_reused(python_repo: Path) -> None:
    (python_repo / "config").mkdir()
    (python_repo / "config" / "feature_catalog.yaml").write_text(
        "features:\n"
        "  - {id: billing, name: Billing, keywords: [invoice], stacks: [python-pytest],\n"
        "     source_repo: acme/billing, path: billing.py, licence: MIT, quality: 40}\n"
    )
    plan = plan_of(phase("1.1", "Send an invoice each month"))
    strategy = strategy_of(plan, python_repo, Ruleset())
    assert strategy.phases[0].reuse is None
    assert "quality 40 is below reuse.min_quality 60" in strategy.reuse_decisions[0].reason


def test_features_of_another_stack_are_not_matched(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n")
    strategy = strategy_of(plan_of(phase("1.1", "Add JWT sign-in")), tmp_path, Ruleset())
    assert strategy.stack_profile == "go-modules"
    assert strategy.reuse_decisions == ()


def test_reuse_can_be_switched_off(python_repo: Path) -> None:
    ruleset = Ruleset.model_validate({"reuse": {"enabled": False}})
    strategy = strategy_of(plan_of(phase("1.1", "Add JWT sign-in")), python_repo, ruleset)
    assert strategy.reuse_decisions == ()
    assert strategy.phases[0].task_category is not TaskCategory.EXTERNAL_FEATURE_REUSE


@pytest.mark.parametrize("reduction", ["0.39", "0.61", "1"])
def test_a_reduction_outside_the_playbook_range_is_refused(reduction: str) -> None:
    with pytest.raises(ValidationError, match="token_budget_reduction"):
        Ruleset.model_validate({"reuse": {"token_budget_reduction": reduction}})


def test_the_builder_is_told_what_to_reuse(python_repo: Path, tmp_path: Path) -> None:
    strategy = strategy_of(plan_of(phase("1.1", "Add JWT sign-in")), python_repo, Ruleset())
    reused = strategy.phases[0]
    request = BuildRequest(
        phase=reused,
        worktree=Worktree(path=tmp_path, base_commit="0" * 40),
        attempt=1,
    )
    message = task_message(request, MODE_PROFILES[reused.builder_mode], "")
    assert "adapt JWT authentication from jpadilla/pyjwt (jwt/api_jwt.py, MIT)" in message


def test_autopack_plan_shows_the_stack_and_reuse_decisions(python_repo: Path) -> None:
    subprocess.run(["git", "init", "-q", str(python_repo)], check=True)
    plan = python_repo / "plan.md"
    plan.write_text("# Plan\n\n## Tier 1: Auth\n\n### Phase 1.1: Add JWT sign-in\n")
    result = CliRunner().invoke(app, ["plan", str(plan), "--repo", str(python_repo)])
    assert result.exit_code == 0, result.output
    assert "stack: python-pytest (pyproject.toml found)" in result.stdout
    assert "reuse 1.1:" in result.stdout
    as_json = CliRunner().invoke(app, ["plan", str(plan), "--repo", str(python_repo), "--json"])
    [run] = json.loads(as_json.stdout)["runs"]
    assert run["reuse_decisions"][0]["feature_id"] == "jwt-auth"
    assert run["tiers"][0]["phases"][0]["task_category"] == "external_feature_reuse"
