"""The closed vocabularies shared by plans, strategies and issues.

Plans and rulesets are validated against these enums so a typo in a plan is a
clear error at parse time instead of a silent default at run time.
"""

from __future__ import annotations

from enum import StrEnum

# Names the upstream system and its playbook give categories, read as ours (`autopack plan` says so).
UPSTREAM_CATEGORY_NAMES: dict[str, str] = {
    "feature_scaffolding": "feature",
    "external_code_intake": "external_feature_reuse",
    "schema_change": "schema_contract_change",
    "security_auth": "security_auth_change",
    "bulk_operation": "bulk_multi_file_operation",
    "index_registry_maintenance": "index_registry_change",
}


class TaskCategory(StrEnum):
    FEATURE = "feature"
    BUGFIX = "bugfix"
    TESTS = "tests"
    DOCS = "docs"
    CONFIG = "config"
    REFACTOR = "refactor"
    DEBT_CLEANUP = "debt_cleanup"
    # The high-risk categories of the playbook.
    CROSS_CUTTING_REFACTOR = "cross_cutting_refactor"
    INDEX_REGISTRY_CHANGE = "index_registry_change"
    SCHEMA_CONTRACT_CHANGE = "schema_contract_change"
    BULK_MULTI_FILE_OPERATION = "bulk_multi_file_operation"
    SECURITY_AUTH_CHANGE = "security_auth_change"
    EXTERNAL_FEATURE_REUSE = "external_feature_reuse"

    @classmethod
    def _missing_(cls, value: object) -> TaskCategory | None:
        ours = UPSTREAM_CATEGORY_NAMES.get(value.lower()) if isinstance(value, str) else None
        return cls(ours) if ours is not None else None


HIGH_RISK_CATEGORIES: frozenset[TaskCategory] = frozenset(
    {
        TaskCategory.CROSS_CUTTING_REFACTOR,
        TaskCategory.INDEX_REGISTRY_CHANGE,
        TaskCategory.SCHEMA_CONTRACT_CHANGE,
        TaskCategory.BULK_MULTI_FILE_OPERATION,
        TaskCategory.SECURITY_AUTH_CHANGE,
        TaskCategory.EXTERNAL_FEATURE_REUSE,
    }
)


class Complexity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class BuilderMode(StrEnum):
    TWEAK_LIGHT = "tweak_light"
    SCAFFOLDING_HEAVY = "scaffolding_heavy"
    REFACTOR_HEAVY = "refactor_heavy"
    SCHEMA_HEAVY = "schema_heavy"


class BuilderName(StrEnum):
    """Who builds a phase: Autopack's own agent, or an external coding-agent CLI."""

    AUTOPACK = "autopack"
    AIDER = "aider"
    CLAUDE_CODE = "claude-code"
    CODEX = "codex"
    # An agent outside the run's process, which claims each attempt over the API or MCP.
    REMOTE = "remote"


class AuditorProfile(StrEnum):
    GENERAL = "general"
    SECURITY_REVIEW = "security_review"
    SCHEMA_REVIEW = "schema_review"
    ORCHESTRATOR_REVIEW = "orchestrator_review"
    DEBT_CLEANUP_REVIEW = "debt_cleanup_review"
    # The upstream system's default for external_code_intake: reused code is read for its licence
    # and its security before it is taken in.
    LICENCE_SECURITY_REVIEW = "licence_security_review"


class CIProfile(StrEnum):
    NORMAL = "normal"
    STRICT = "strict"


class SafetyProfile(StrEnum):
    NORMAL = "normal"
    SAFETY_CRITICAL = "safety_critical"


class RunScope(StrEnum):
    MULTI_TIER = "multi_tier"
    SINGLE_TIER = "single_tier"


class Role(StrEnum):
    BUILDER = "builder"
    AUDITOR = "auditor"
    PLANNER = "planner"


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


class TestChanges(StrEnum):
    """May a phase delete, skip or weaken existing tests? Only `tests` phases, or when the plan
    says `test_changes: allowed`."""

    __test__ = False  # not a pytest test class, despite its name

    GUARDED = "guarded"
    ALLOWED = "allowed"


class IssueSource(StrEnum):
    TEST = "test"
    PROBE = "probe"
    CI = "ci"
    STATIC_CHECK = "static_check"
    AUDITOR = "auditor"
    BUILDER = "builder"


class IssueState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Approval(StrEnum):
    """A phase with auto_apply = false: its commit is not promoted until approved."""

    PENDING = "pending"
    APPROVED = "approved"


class Cleanliness(StrEnum):
    CLEAN = "clean"
    NOT_CLEAN = "not_clean"


class TokenScope(StrEnum):
    """What an API token may do: read only looks; write also starts, cancels and promotes."""

    READ = "read"
    WRITE = "write"
