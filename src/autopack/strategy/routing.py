"""Which model alias serves each role, by complexity and risk (the aliases: llm/aliases.py)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

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


class Routing(BaseModel):
    """`[routing]` in autopack.toml: the alias behind each level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top: str = "anthropic-top"
    standard: str = "anthropic-standard"
    fast: str = "anthropic-fast"

    def alias_for(self, role: Role, complexity: Complexity, *, high_risk: bool) -> str:
        level = Level.TOP if high_risk else _LEVELS[role][complexity]
        return str(getattr(self, level.value))

    def escalated(self, alias_name: str) -> str | None:
        """The alias one level up, for an attempt after one that made no progress; None at the top."""
        ladder = [self.fast, self.standard, self.top]
        if alias_name not in ladder:
            return None
        above = [name for name in ladder[ladder.index(alias_name) + 1 :] if name != alias_name]
        return above[0] if above else None

    def unknown_aliases(self, aliases: dict[str, ModelAlias]) -> list[str]:
        named = {self.top, self.standard, self.fast}
        named |= {fallback for alias in aliases.values() for fallback in alias.fallbacks}
        return sorted(named - set(aliases))
