"""The upstream system's request bodies, and how a `POST /runs/start` body becomes our plan.

The shapes are those of hshk99/Autopack at commit c72e51500e540f508a88d87e94f59e8a480a977c
(src/autopack/schemas.py: RunCreate, TierCreate, PhaseCreate, RunStartRequest,
with PhaseCreate's `scope` as its later schemas.py (78fa197f2d98) added it. Upstream ignored fields
it did not know; here an unknown field is refused by name, since a field silently dropped would be
a request whose meaning was lost.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from autopack.config import Settings
from autopack.domain.plan import ID_PATTERN
from autopack.domain.vocabulary import RunScope, SafetyProfile
from autopack.server.problems import Problem


def _text(value: str, *, lines: bool) -> str:
    # Titles and descriptions reach git, the database and the dashboard: text only, and a title
    # one line.
    allowed = "\n\t" if lines else ""
    if any(ord(char) < 32 and char not in allowed for char in value):
        raise ValueError("contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not UTF-8 text") from None
    return value


def _line(value: str) -> str:
    return _text(value, lines=False)


def _lines(value: str) -> str:
    return _text(value, lines=True)


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)]
Prose = Annotated[str, Field(max_length=20_000), AfterValidator(_lines)]
RepoPath = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_line)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Index = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class UpstreamBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpstreamRun(UpstreamBody):
    """RunCreate. Caps left out are the project's; a cap above the project's is lowered to it."""

    run_id: Name = Field(description="Kept as the run's title; the run gets an Autopack run id")
    safety_profile: SafetyProfile = SafetyProfile.NORMAL
    run_scope: RunScope = RunScope.MULTI_TIER
    token_cap: int | None = Field(default=None, gt=0, le=10**12)
    max_phases: int | None = Field(default=None, gt=0, le=10_000)
    max_duration_minutes: int | None = Field(default=None, gt=0, le=10**6)


class UpstreamTier(UpstreamBody):
    tier_id: Id
    tier_index: Index
    name: Name
    description: Prose | None = None


class ReadOnlyEntry(UpstreamBody):
    path: RepoPath
    reason: Prose = ""


class UpstreamScope(UpstreamBody):
    paths: list[RepoPath] = Field(default_factory=list, max_length=200)
    read_only_context: list[RepoPath | ReadOnlyEntry] = Field(default_factory=list, max_length=200)
    deliverables: list[RepoPath] = Field(default_factory=list, max_length=200)


class UpstreamPhase(UpstreamBody):
    phase_id: Id
    phase_index: Index
    tier_id: Id
    name: Name
    description: Prose | None = None
    task_category: Annotated[str, Field(max_length=100)] | None = None
    complexity: Annotated[str, Field(max_length=100)] | None = None
    builder_mode: Annotated[str, Field(max_length=100)] | None = None
    scope: UpstreamScope | None = None


class RunStartRequest(UpstreamBody):
    run: UpstreamRun
    tiers: list[UpstreamTier] = Field(default_factory=list, max_length=200)
    phases: list[UpstreamPhase] = Field(default_factory=list, max_length=2_000)


def _notes(phase: UpstreamPhase) -> str:
    """Upstream scope fields that have no field of their own in our plan, told to the Builder."""
    scope = phase.scope or UpstreamScope()
    parts = [phase.description or ""]
    context = [
        entry if isinstance(entry, str) else f"{entry.path} ({entry.reason})".replace(" ()", "")
        for entry in scope.read_only_context
    ]
    if context:
        parts.append("Read for context, do not change: " + ", ".join(context))
    if scope.deliverables:
        parts.append("Deliverables: " + ", ".join(scope.deliverables))
    return "\n\n".join(part for part in parts if part)


def _phase(phase: UpstreamPhase) -> dict[str, Any]:
    scope = phase.scope or UpstreamScope()
    fields = {
        "id": phase.phase_id,
        "title": phase.name,
        "description": _notes(phase),
        "category": phase.task_category,
        "complexity": phase.complexity,
        "builder_mode": phase.builder_mode,
        # Deliverables are files the phase makes: it may write them.
        "scope": list(dict.fromkeys([*scope.paths, *scope.deliverables])),
    }
    return {key: value for key, value in fields.items() if value not in (None, [])}


def plan_document(request: RunStartRequest) -> dict[str, Any]:
    """The run's tiers and phases as our structured plan (docs/plan-format.md, JSON), in
    tier_index then phase_index order; it is then read like any uploaded JSON plan."""
    tier_ids = {tier.tier_id for tier in request.tiers}
    for phase in request.phases:
        if phase.tier_id not in tier_ids:
            raise Problem(
                422,
                "Invalid input",
                f"phases: phase {phase.phase_id} references unknown tier {phase.tier_id}",
            )
    tiers = sorted(request.tiers, key=lambda tier: tier.tier_index)
    return {
        "title": request.run.run_id,
        "description": "Started over the upstream API (POST /runs/start).",
        "tiers": [
            {
                "id": tier.tier_id,
                "name": tier.name,
                "description": tier.description or "",
                "phases": [
                    _phase(phase)
                    for phase in sorted(request.phases, key=lambda phase: phase.phase_index)
                    if phase.tier_id == tier.tier_id
                ],
            }
            for tier in tiers
        ],
    }


def run_settings(settings: Settings, run: UpstreamRun) -> Settings:
    """The project's settings with the run's caps and profile: a request may tighten what the
    project's autopack.toml sets, never loosen it (a lower cap, safety_critical, single_tier)."""
    ours = settings.ruleset.run

    def tightened(asked: int | None, project: int) -> int:
        return project if asked is None else min(asked, project)

    limits = ours.model_copy(
        update={
            "token_cap": tightened(run.token_cap, ours.token_cap),
            "max_phases": tightened(run.max_phases, ours.max_phases),
            "max_duration_minutes": tightened(run.max_duration_minutes, ours.max_duration_minutes),
        }
    )
    critical = SafetyProfile.SAFETY_CRITICAL
    safety = critical if critical in (run.safety_profile, settings.ruleset.safety_profile) else None
    single = RunScope.SINGLE_TIER
    scope = single if single in (run.run_scope, settings.run_scope) else RunScope.MULTI_TIER
    ruleset = settings.ruleset.model_copy(
        update={"run": limits, "safety_profile": safety or SafetyProfile.NORMAL}
    )
    return settings.model_copy(update={"ruleset": ruleset, "run_scope": scope})
