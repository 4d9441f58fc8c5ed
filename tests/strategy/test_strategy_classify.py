"""Phases without a category are classified by explainable rules, and the rule that fired is named."""

from __future__ import annotations

import pytest

from autopack.domain.plan import PhaseSpec
from autopack.domain.vocabulary import BuilderMode, Complexity, TaskCategory
from autopack.strategy.classify import classify_phase, decide_builder_mode, decide_complexity


def spec(title: str = "Do the thing", scope: tuple[str, ...] = (), **fields: object) -> PhaseSpec:
    return PhaseSpec.model_validate(
        {"id": "p", "tier_id": "1", "title": title, "scope": scope, **fields}
    )


@pytest.mark.parametrize(
    ("scope", "category", "reason_part"),
    [
        (("db/migrations/*.py",), TaskCategory.SCHEMA_CONTRACT_CHANGE, "db/migrations/*.py"),
        (("alembic/versions/x.py",), TaskCategory.SCHEMA_CONTRACT_CHANGE, "migrations"),
        (("src/app/auth/*.py",), TaskCategory.SECURITY_AUTH_CHANGE, "auth"),
        (("src/login.py",), TaskCategory.SECURITY_AUTH_CHANGE, "src/login.py"),
        (("src/plugins/registry.py",), TaskCategory.INDEX_REGISTRY_CHANGE, "registry"),
        (("docs/*.md", "README.md"), TaskCategory.DOCS, "only documentation"),
        (("tests/test_api.py",), TaskCategory.TESTS, "only tests"),
        (("**/*.py",), TaskCategory.BULK_MULTI_FILE_OPERATION, "whole repo"),
        (
            ("a/x", "b/x", "c/x", "d/x", "e/x"),
            TaskCategory.BULK_MULTI_FILE_OPERATION,
            "5 top-level",
        ),
        (("src/app/api.py",), TaskCategory.FEATURE, "default"),
    ],
)
def test_scope_rules(scope: tuple[str, ...], category: TaskCategory, reason_part: str) -> None:
    decision = classify_phase(spec(scope=scope))
    assert decision.value is category
    assert reason_part in decision.reason


def test_docs_mixed_with_code_is_not_docs() -> None:
    assert classify_phase(spec(scope=("docs/a.md", "src/a.py"))).value is TaskCategory.FEATURE


def test_plan_category_wins_over_rules() -> None:
    decision = classify_phase(spec(scope=("db/migrations/x.py",), category="docs"))
    assert (decision.value, decision.reason) == (TaskCategory.DOCS, "given in the plan")


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("Refactor the storage layer", TaskCategory.REFACTOR),
        ("Fix off-by-one in pagination", TaskCategory.BUGFIX),
        ("Configure logging", TaskCategory.CONFIG),
        ("Add a todo endpoint", TaskCategory.FEATURE),
    ],
)
def test_title_words_classify_when_scope_is_silent(title: str, category: TaskCategory) -> None:
    assert classify_phase(spec(title=title)).value is category


def test_high_risk_forces_high_complexity_and_says_it_overrode_the_plan() -> None:
    decision = decide_complexity(spec(complexity="low"), TaskCategory.SECURITY_AUTH_CHANGE)
    assert decision.value is Complexity.HIGH
    assert "plan said low" in decision.reason


def test_light_categories_default_to_low_and_tweak_mode() -> None:
    complexity = decide_complexity(spec(), TaskCategory.DOCS)
    assert complexity.value is Complexity.LOW
    mode = decide_builder_mode(spec(), TaskCategory.DOCS, complexity.value)
    assert mode.value is BuilderMode.TWEAK_LIGHT


def test_new_medium_feature_is_scaffolding() -> None:
    assert (
        decide_builder_mode(spec(), TaskCategory.FEATURE, Complexity.MEDIUM).value
        is BuilderMode.SCAFFOLDING_HEAVY
    )
