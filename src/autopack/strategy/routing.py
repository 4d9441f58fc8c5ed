"""Which model alias serves each role, by complexity and risk (the aliases: llm/aliases.py)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.vocabulary import Complexity, Role
from autopack.llm.aliases import ModelAlias


class Level(StrEnum):
    """How capable a model a call deserves; each level names an alias in the routing table."""

    TOP = "top"
    STANDARD = "standard"
    FAST = "fast"


# role x complexity -> level, for phases that are not high-risk; high-risk is always TOP.
_LEVELS: dict[Role, dict[Complexity, Level]] = {
    Role.BUILDER: {
        Complexity.LOW: Level.STANDARD,
        Complexity.MEDIUM: Level.STANDARD,
        Complexity.HIGH: Level.TOP,
    },
    Role.AUDITOR: {
        Complexity.LOW: Level.FAST,
        Complexity.MEDIUM: Level.STANDARD,
        Complexity.HIGH: Level.TOP,
    },
    Role.PLANNER: {
        Complexity.LOW: Level.STANDARD,
        Complexity.MEDIUM: Level.STANDARD,
        Complexity.HIGH: Level.STANDARD,
    },
}


class RoutingPolicy(StrEnum):
    """Who picks the Builder's alias: the table below, or the table corrected by the project's
    own record (strategy/learned_routing.py)."""

    STATIC = "static"
    LEARNED = "learned"


class Routing(BaseModel):
    """`[routing]` in autopack.toml: the alias behind each level, and how the Builder's is chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top: str = "anthropic-top"
    standard: str = "anthropic-standard"
    fast: str = "anthropic-fast"
    policy: RoutingPolicy = RoutingPolicy.LEARNED
    # learned: an alias is compared only after this many ended phases of the same category and
    # complexity, and only against a static choice with as many.
    min_observations: int = Field(default=8, ge=1)
    # learned: the Wilson interval's level; its lower bound must reach the static choice's rate.
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    def level_for(self, role: Role, complexity: Complexity, *, high_risk: bool) -> Level:
        return Level.TOP if high_risk else _LEVELS[role][complexity]

    def alias_for(self, role: Role, complexity: Complexity, *, high_risk: bool) -> str:
        return str(getattr(self, self.level_for(role, complexity, high_risk=high_risk).value))

    @property
    def ladder(self) -> list[str]:
        return [self.fast, self.standard, self.top]

    def escalated(self, alias_name: str) -> str | None:
        """The alias one level up, for an attempt after one that made no progress; None at the top."""
        ladder = self.ladder
        if alias_name not in ladder:
            return None
        above = [name for name in ladder[ladder.index(alias_name) + 1 :] if name != alias_name]
        return above[0] if above else None

    def unknown_aliases(self, aliases: dict[str, ModelAlias]) -> list[str]:
        named = {self.top, self.standard, self.fast}
        named |= {fallback for alias in aliases.values() for fallback in alias.fallbacks}
        return sorted(named - set(aliases))
