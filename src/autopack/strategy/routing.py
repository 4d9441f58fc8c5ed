"""Which model alias serves each role, by complexity and risk, and what each alias resolves to."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autopack.domain.vocabulary import Complexity, Role


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    # Any server that speaks the OpenAI API: Ollama, vLLM, LM Studio, a gateway.
    OPENAI_COMPATIBLE = "openai_compatible"


class ModelAlias(BaseModel):
    """What an alias resolves to. The key itself never appears here, only its variable's name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _compatible_servers_need_a_url(self) -> ModelAlias:
        if self.provider is Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValueError("provider openai_compatible needs base_url")
        return self


def default_aliases() -> dict[str, ModelAlias]:
    anthropic = {"provider": Provider.ANTHROPIC, "api_key_env": "ANTHROPIC_API_KEY"}
    openai = {"provider": Provider.OPENAI, "api_key_env": "OPENAI_API_KEY"}
    return {
        "anthropic-top": ModelAlias(model="claude-opus-4-1", **anthropic),
        "anthropic-standard": ModelAlias(model="claude-sonnet-4-5", **anthropic),
        "anthropic-fast": ModelAlias(model="claude-haiku-4-5", **anthropic),
        "openai-top": ModelAlias(model="gpt-5", **openai),
        "openai-standard": ModelAlias(model="gpt-5-mini", **openai),
        "openai-fast": ModelAlias(model="gpt-5-nano", **openai),
        "local": ModelAlias(
            provider=Provider.OPENAI_COMPATIBLE,
            model="qwen2.5-coder:14b",
            base_url="http://127.0.0.1:11434/v1",
        ),
    }


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

    def unknown_aliases(self, aliases: dict[str, ModelAlias]) -> list[str]:
        return sorted({self.top, self.standard, self.fast} - set(aliases))
