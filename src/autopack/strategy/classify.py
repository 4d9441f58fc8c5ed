"""Explainable rules that give a phase its category, complexity and Builder mode when the plan is silent.

Each rule returns the value and a sentence saying why, so `autopack plan` and
strategy.json can show a user exactly which rule fired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Generic, TypeVar

from autopack.domain.plan import PhaseSpec
from autopack.domain.vocabulary import (
    HIGH_RISK_CATEGORIES,
    AuditorProfile,
    BuilderMode,
    Complexity,
    TaskCategory,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Decision(Generic[T]):
    value: T
    reason: str


def _mentions(globs: Iterable[str], words: Iterable[str]) -> str | None:
    """The first glob whose path parts contain one of `words`."""
    for glob in globs:
        parts = [part.lower() for part in glob.replace("\\", "/").split("/")]
        for part in parts:
            stem = part.split(".")[0]
            if any(word == stem or stem.startswith(word) for word in words):
                return glob
    return None


def _all_match(globs: tuple[str, ...], patterns: Iterable[str]) -> bool:
    pats = tuple(patterns)
    return bool(globs) and all(any(fnmatch(g, p) for p in pats) for g in globs)


_MIGRATION_WORDS = ("migration", "migrations", "alembic", "schema", "schemas")
_AUTH_WORDS = ("auth", "login", "oauth", "jwt", "permission", "permissions", "security", "session")
_REGISTRY_WORDS = ("registry", "registries", "plugins")
_DOC_PATTERNS = ("docs/*", "doc/*", "*.md", "*.rst", "*.txt", "README*", "CHANGELOG*")
_TEST_PATTERNS = (
    "tests/*",
    "test/*",
    "*/tests/*",
    "*test_*.py",
    "*_test.go",
    "*.test.ts",
    "*.spec.ts",
)
_BULK_DIRECTORIES = 5


def _by_scope(scope: tuple[str, ...]) -> Decision[TaskCategory] | None:
    rules: list[Callable[[], Decision[TaskCategory] | None]] = [
        lambda: _rule_words(
            scope, _MIGRATION_WORDS, TaskCategory.SCHEMA_CONTRACT_CHANGE, "migrations or schemas"
        ),
        lambda: _rule_words(
            scope, _AUTH_WORDS, TaskCategory.SECURITY_AUTH_CHANGE, "auth or security code"
        ),
        lambda: _rule_words(
            scope, _REGISTRY_WORDS, TaskCategory.INDEX_REGISTRY_CHANGE, "a registry"
        ),
        lambda: _rule_all(scope, _DOC_PATTERNS, TaskCategory.DOCS, "only documentation"),
        lambda: _rule_all(scope, _TEST_PATTERNS, TaskCategory.TESTS, "only tests"),
        lambda: _rule_bulk(scope),
    ]
    for rule in rules:
        decision = rule()
        if decision is not None:
            return decision
    return None


def _rule_words(
    scope: tuple[str, ...], words: tuple[str, ...], category: TaskCategory, what: str
) -> Decision[TaskCategory] | None:
    glob = _mentions(scope, words)
    if glob is None:
        return None
    return Decision(category, f"scope {glob!r} touches {what}")


def _rule_all(
    scope: tuple[str, ...], patterns: tuple[str, ...], category: TaskCategory, what: str
) -> Decision[TaskCategory] | None:
    if not _all_match(scope, patterns):
        return None
    return Decision(category, f"scope covers {what}")


def _rule_bulk(scope: tuple[str, ...]) -> Decision[TaskCategory] | None:
    everything = [glob for glob in scope if glob.startswith("**") or glob in ("*", "*.*")]
    if everything:
        return Decision(
            TaskCategory.BULK_MULTI_FILE_OPERATION, f"scope {everything[0]!r} covers the whole repo"
        )
    directories = {glob.split("/")[0] for glob in scope if "/" in glob}
    if len(directories) >= _BULK_DIRECTORIES:
        return Decision(
            TaskCategory.BULK_MULTI_FILE_OPERATION,
            f"scope spans {len(directories)} top-level directories",
        )
    return None


_TITLE_WORDS: tuple[tuple[tuple[str, ...], TaskCategory], ...] = (
    (("refactor", "restructure", "rename"), TaskCategory.REFACTOR),
    (("fix", "bug", "regression"), TaskCategory.BUGFIX),
    (("document", "docs", "readme"), TaskCategory.DOCS),
    (("config", "configure", "settings"), TaskCategory.CONFIG),
)


def classify_phase(phase: PhaseSpec) -> Decision[TaskCategory]:
    """The plan's category if given; else scope rules; else title words; else `feature`."""
    if phase.category is not None:
        if phase.category_alias is not None:
            return Decision(
                phase.category, f"given in the plan as {phase.category_alias!r} (upstream name)"
            )
        return Decision(phase.category, "given in the plan")
    by_scope = _by_scope(phase.scope)
    if by_scope is not None:
        return by_scope
    title_words = {word.strip(".,:;()").lower() for word in phase.title.split()}
    for words, category in _TITLE_WORDS:
        hit = next((w for w in words if w in title_words), None)
        if hit is not None:
            return Decision(category, f"title mentions {hit!r}")
    return Decision(TaskCategory.FEATURE, "no rule matched; default category")


_LIGHT_CATEGORIES = frozenset({TaskCategory.DOCS, TaskCategory.CONFIG, TaskCategory.TESTS})


def decide_complexity(phase: PhaseSpec, category: TaskCategory) -> Decision[Complexity]:
    if category in HIGH_RISK_CATEGORIES:
        if phase.complexity not in (None, Complexity.HIGH):
            return Decision(
                Complexity.HIGH, f"high-risk category {category}; plan said {phase.complexity}"
            )
        return Decision(Complexity.HIGH, f"high-risk category {category}")
    if phase.complexity is not None:
        return Decision(phase.complexity, "given in the plan")
    if category in _LIGHT_CATEGORIES:
        return Decision(Complexity.LOW, f"category {category} is light work")
    return Decision(Complexity.MEDIUM, "default complexity")


_MODE_BY_CATEGORY: dict[TaskCategory, BuilderMode] = {
    TaskCategory.SCHEMA_CONTRACT_CHANGE: BuilderMode.SCHEMA_HEAVY,
    TaskCategory.REFACTOR: BuilderMode.REFACTOR_HEAVY,
    TaskCategory.CROSS_CUTTING_REFACTOR: BuilderMode.REFACTOR_HEAVY,
    TaskCategory.BULK_MULTI_FILE_OPERATION: BuilderMode.REFACTOR_HEAVY,
    TaskCategory.DEBT_CLEANUP: BuilderMode.REFACTOR_HEAVY,
    TaskCategory.INDEX_REGISTRY_CHANGE: BuilderMode.REFACTOR_HEAVY,
}


def decide_builder_mode(
    phase: PhaseSpec, category: TaskCategory, complexity: Complexity
) -> Decision[BuilderMode]:
    if phase.builder_mode is not None:
        return Decision(phase.builder_mode, "given in the plan")
    if category in _MODE_BY_CATEGORY:
        return Decision(_MODE_BY_CATEGORY[category], f"category {category}")
    if category in _LIGHT_CATEGORIES or complexity is Complexity.LOW:
        return Decision(BuilderMode.TWEAK_LIGHT, f"category {category}, complexity {complexity}")
    return Decision(BuilderMode.SCAFFOLDING_HEAVY, f"new code ({category}, {complexity})")


_AUDITOR_BY_CATEGORY: dict[TaskCategory, AuditorProfile] = {
    TaskCategory.SECURITY_AUTH_CHANGE: AuditorProfile.SECURITY_REVIEW,
    TaskCategory.SCHEMA_CONTRACT_CHANGE: AuditorProfile.SCHEMA_REVIEW,
    TaskCategory.INDEX_REGISTRY_CHANGE: AuditorProfile.ORCHESTRATOR_REVIEW,
    TaskCategory.CROSS_CUTTING_REFACTOR: AuditorProfile.ORCHESTRATOR_REVIEW,
    TaskCategory.BULK_MULTI_FILE_OPERATION: AuditorProfile.ORCHESTRATOR_REVIEW,
    TaskCategory.DEBT_CLEANUP: AuditorProfile.DEBT_CLEANUP_REVIEW,
    TaskCategory.EXTERNAL_FEATURE_REUSE: AuditorProfile.LICENCE_SECURITY_REVIEW,
}


def auditor_profile_for(category: TaskCategory) -> AuditorProfile:
    return _AUDITOR_BY_CATEGORY.get(category, AuditorProfile.GENERAL)
