"""A parsed, normalised plan: tiers of phases. Every plan source (Markdown, YAML, JSON) ends here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autopack.domain.vocabulary import (
    UPSTREAM_CATEGORY_NAMES,
    BuilderMode,
    BuilderName,
    Complexity,
    TaskCategory,
    TestChanges,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def printable(value: str) -> str:
    """Titles become commit subjects, branch listings and dashboard text: no control characters."""
    bad = next((char for char in value if ord(char) < 32 or 0x7F <= ord(char) < 0xA0), None)
    if bad is not None:
        raise ValueError(f"contains the control character {bad!r}")
    return value


def usable_in_a_ref(value: str) -> str:
    """Ids name tags (`autopack/<run_id>/<phase_id>`): what git refuses in a ref is refused here."""
    if ".." in value or value.endswith((".", ".lock")):
        raise ValueError(f"{value!r} cannot name a git ref (no '..', no trailing '.' or '.lock')")
    return value


class PhaseSpec(BaseModel):
    """One unit of work for a Builder; optional fields left None are decided by the strategy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    tier_id: str = Field(pattern=ID_PATTERN)
    category: TaskCategory | None = None
    complexity: Complexity | None = None
    builder_mode: BuilderMode | None = None
    builder: BuilderName | None = None
    test_changes: TestChanges | None = None
    scope: tuple[str, ...] = ()
    acceptance: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    description: str = ""
    source_line: int | None = None
    # The upstream name the plan gave the category in, when it used one (shown by `autopack plan`).
    category_alias: str | None = None

    _id_usable_in_a_ref = field_validator("id", "tier_id")(usable_in_a_ref)

    @model_validator(mode="before")
    @classmethod
    def _upstream_category(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("category"), str):
            ours = UPSTREAM_CATEGORY_NAMES.get(data["category"].lower())
            if ours is not None:
                return {**data, "category": ours, "category_alias": data["category"]}
        return data

    _title_printable = field_validator("title")(printable)


class TierSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    description: str = ""
    phases: tuple[PhaseSpec, ...]
    source_line: int | None = None

    _id_usable_in_a_ref = field_validator("id")(usable_in_a_ref)
    _name_printable = field_validator("name")(printable)


class PlanSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = ""
    description: str = ""
    tiers: tuple[TierSpec, ...]
    source_path: str | None = None

    @property
    def phases(self) -> tuple[PhaseSpec, ...]:
        return tuple(phase for tier in self.tiers for phase in tier.phases)
