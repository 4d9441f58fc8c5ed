"""Each classification rule's value and the exact sentence `autopack plan` and strategy.json show
for it, and the path and title forms the rules must read; written for mutation testing
(bench/mutation.py), which found the sentences and several forms untested."""

from __future__ import annotations

import pytest

from autopack.domain.plan import PhaseSpec
from autopack.domain.vocabulary import AuditorProfile, BuilderMode, Complexity, TaskCategory
from autopack.strategy.classify import (
    Decision,
    auditor_profile_for,
    classify_phase,
    decide_builder_mode,
    decide_complexity,
)


def spec(title: str = "Do the thing", scope: tuple[str, ...] = (), **fields: object) -> PhaseSpec:
    return PhaseSpec.model_validate(
        {"id": "p", "tier_id": "1", "title": title, "scope": scope, **fields}
    )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (
            ("db/migrations/*.py",),
            Decision(
                TaskCategory.SCHEMA_CONTRACT_CHANGE,
                "scope 'db/migrations/*.py' touches migrations or schemas",
            ),
        ),
        (
            ("src/auth/*.py",),
            Decision(
                TaskCategory.SECURITY_AUTH_CHANGE,
                "scope 'src/auth/*.py' touches auth or security code",
            ),
        ),
        (
            ("src/plugins/loader.py",),
            Decision(
                TaskCategory.INDEX_REGISTRY_CHANGE,
                "scope 'src/plugins/loader.py' touches a registry",
            ),
        ),
        (("docs/*.md",), Decision(TaskCategory.DOCS, "scope covers only documentation")),
        (("tests/test_api.py",), Decision(TaskCategory.TESTS, "scope covers only tests")),
        (
            ("*",),
            Decision(TaskCategory.BULK_MULTI_FILE_OPERATION, "scope '*' covers the whole repo"),
        ),
        (
            ("*.*",),
            Decision(TaskCategory.BULK_MULTI_FILE_OPERATION, "scope '*.*' covers the whole repo"),
        ),
        (("src/app/api.py",), Decision(TaskCategory.FEATURE, "no rule matched; default category")),
    ],
)
def test_each_scope_rule_gives_its_category_and_sentence(
    scope: tuple[str, ...], expected: Decision[TaskCategory]
) -> None:
    assert classify_phase(spec(scope=scope)) == expected


def test_a_word_is_found_at_the_start_of_a_longer_path_part() -> None:
    decision = classify_phase(spec(scope=("src/sessions/store.py",)))
    assert decision.value is TaskCategory.SECURITY_AUTH_CHANGE


def test_windows_separators_in_a_scope_are_read_as_slashes() -> None:
    decision = classify_phase(spec(scope=("src\\auth\\login.py",)))
    assert decision.value is TaskCategory.SECURITY_AUTH_CHANGE


def test_an_empty_path_part_in_a_scope_glob_is_skipped() -> None:
    decision = classify_phase(spec(scope=("src//auth.py",)))
    assert decision.value is TaskCategory.SECURITY_AUTH_CHANGE


def test_globs_sharing_a_top_level_directory_count_it_once() -> None:
    decision = classify_phase(spec(scope=("a/x", "a/y", "b/x", "c/x", "d/x")))
    assert decision.value is TaskCategory.FEATURE


def test_an_upstream_category_name_is_named_in_the_sentence() -> None:
    decision = classify_phase(spec(category="feature_scaffolding"))
    assert decision == Decision(
        TaskCategory.FEATURE, "given in the plan as 'feature_scaffolding' (upstream name)"
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Refactor: the parser", Decision(TaskCategory.REFACTOR, "title mentions 'refactor'")),
        # Shouted or punctuated, the word is still the word.
        ("FIX login crash", Decision(TaskCategory.BUGFIX, "title mentions 'fix'")),
        ("Update the docs.", Decision(TaskCategory.DOCS, "title mentions 'docs'")),
        ("(config) tidy", Decision(TaskCategory.CONFIG, "title mentions 'config'")),
    ],
)
def test_title_words_give_the_category_and_name_the_word(
    title: str, expected: Decision[TaskCategory]
) -> None:
    assert classify_phase(spec(title=title)) == expected


@pytest.mark.parametrize(
    ("phase", "category", "expected"),
    [
        (
            spec(),
            TaskCategory.SECURITY_AUTH_CHANGE,
            Decision(Complexity.HIGH, "high-risk category security_auth_change"),
        ),
        (
            spec(complexity="low"),
            TaskCategory.FEATURE,
            Decision(Complexity.LOW, "given in the plan"),
        ),
        (spec(), TaskCategory.DOCS, Decision(Complexity.LOW, "category docs is light work")),
        (spec(), TaskCategory.FEATURE, Decision(Complexity.MEDIUM, "default complexity")),
    ],
)
def test_each_complexity_rule_gives_its_value_and_sentence(
    phase: PhaseSpec, category: TaskCategory, expected: Decision[Complexity]
) -> None:
    assert decide_complexity(phase, category) == expected


@pytest.mark.parametrize(
    ("phase", "category", "complexity", "expected"),
    [
        (
            spec(builder_mode="schema_heavy"),
            TaskCategory.FEATURE,
            Complexity.MEDIUM,
            Decision(BuilderMode.SCHEMA_HEAVY, "given in the plan"),
        ),
        (
            spec(),
            TaskCategory.REFACTOR,
            Complexity.MEDIUM,
            Decision(BuilderMode.REFACTOR_HEAVY, "category refactor"),
        ),
        (
            spec(),
            TaskCategory.DOCS,
            Complexity.MEDIUM,
            Decision(BuilderMode.TWEAK_LIGHT, "category docs, complexity medium"),
        ),
        # Low complexity alone makes it a tweak, whatever the category.
        (
            spec(),
            TaskCategory.FEATURE,
            Complexity.LOW,
            Decision(BuilderMode.TWEAK_LIGHT, "category feature, complexity low"),
        ),
        (
            spec(),
            TaskCategory.FEATURE,
            Complexity.MEDIUM,
            Decision(BuilderMode.SCAFFOLDING_HEAVY, "new code (feature, medium)"),
        ),
    ],
)
def test_each_builder_mode_rule_gives_its_mode_and_sentence(
    phase: PhaseSpec,
    category: TaskCategory,
    complexity: Complexity,
    expected: Decision[BuilderMode],
) -> None:
    assert decide_builder_mode(phase, category, complexity) == expected


@pytest.mark.parametrize(
    ("category", "profile"),
    [
        (TaskCategory.SECURITY_AUTH_CHANGE, AuditorProfile.SECURITY_REVIEW),
        (TaskCategory.DEBT_CLEANUP, AuditorProfile.DEBT_CLEANUP_REVIEW),
        (TaskCategory.FEATURE, AuditorProfile.GENERAL),
    ],
)
def test_the_auditor_profile_follows_the_category(
    category: TaskCategory, profile: AuditorProfile
) -> None:
    assert auditor_profile_for(category) is profile
