"""Builder modes: how much an attempt may do, and what the prompt stresses, by kind of change."""

from __future__ import annotations

from dataclasses import dataclass

from autopack.builder.progress import ProgressLimits
from autopack.domain.vocabulary import BuilderMode


@dataclass(frozen=True)
class ModeProfile:
    max_steps: int
    wall_seconds: float
    progress: ProgressLimits
    guidance: str


MODE_PROFILES: dict[BuilderMode, ModeProfile] = {
    BuilderMode.TWEAK_LIGHT: ModeProfile(
        max_steps=25,
        wall_seconds=15 * 60,
        progress=ProgressLimits(stale_steps=10),
        guidance=(
            "This is a small, local change. Touch as few lines as you can, keep the existing "
            "style, and do not restructure code the task does not name."
        ),
    ),
    BuilderMode.SCAFFOLDING_HEAVY: ModeProfile(
        max_steps=60,
        wall_seconds=40 * 60,
        progress=ProgressLimits(stale_steps=20),
        guidance=(
            "This change creates new modules. Lay out the files first, follow the project's "
            "existing package layout and naming, and add tests beside the new code."
        ),
    ),
    BuilderMode.REFACTOR_HEAVY: ModeProfile(
        max_steps=60,
        wall_seconds=40 * 60,
        progress=ProgressLimits(stale_steps=20),
        guidance=(
            "This change restructures existing code without changing behaviour. Find every "
            "caller before you move or rename anything, and run the tests after each step."
        ),
    ),
    BuilderMode.SCHEMA_HEAVY: ModeProfile(
        max_steps=40,
        wall_seconds=30 * 60,
        progress=ProgressLimits(stale_steps=15),
        guidance=(
            "This change alters a schema or contract. Keep old data readable (migrations, "
            "defaults), update every producer and consumer, and test both directions."
        ),
    ),
}
