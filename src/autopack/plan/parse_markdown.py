"""`comprehensive_plan.md`: `## Tier <id>: <name>`, `### Phase <id>: <title>`, metadata lines, free text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError

from autopack.domain.plan import ID_PATTERN, PhaseSpec, PlanSpec, TierSpec
from autopack.domain.vocabulary import (
    BuilderMode,
    BuilderName,
    Complexity,
    TaskCategory,
    TestChanges,
)
from autopack.errors import PlanError
from autopack.llm.redact import Redactor
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.plan.validate import validate_plan

_TIER = re.compile(r"^##\s+Tier\b(?P<rest>.*)$", re.IGNORECASE)
_PHASE = re.compile(r"^###\s+Phase\b(?P<rest>.*)$", re.IGNORECASE)
_ID_AND_NAME = re.compile(r"^\s+(?P<id>[^\s:]+)\s*:\s*(?P<name>\S.*?)\s*$")
_TITLE = re.compile(r"^#\s+(?P<title>\S.*?)\s*$")
_METADATA = re.compile(r"^\s*(?:[-*]\s+)?(?P<key>[a-z][a-z_]*)\s*:\s*(?P<value>.*?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")

_ENUMS: dict[str, type[StrEnum]] = {
    "category": TaskCategory,
    "complexity": Complexity,
    "builder_mode": BuilderMode,
    "builder": BuilderName,
    "test_changes": TestChanges,
}
# Lists: scope and depends_on split on commas; acceptance on semicolons, since commands hold commas.
_LISTS: dict[str, str] = {"scope": ",", "depends_on": ",", "acceptance": ";"}
METADATA_KEYS: tuple[str, ...] = (*_ENUMS, *_LISTS)


@dataclass
class _Phase:
    id: str
    title: str
    line: int
    choices: dict[str, StrEnum] = field(default_factory=dict)
    upstream: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    in_metadata: bool = True


@dataclass
class _Tier:
    id: str
    name: str
    line: int
    text: list[str] = field(default_factory=list)
    phases: list[_Phase] = field(default_factory=list)


@dataclass
class _Draft:
    title: str = ""
    text: list[str] = field(default_factory=list)
    tiers: list[_Tier] = field(default_factory=list)


def _heading(match: re.Match[str], kind: str, path: str, line: int) -> tuple[str, str]:
    parts = _ID_AND_NAME.match(match.group("rest"))
    if parts is None:
        what = "name" if kind == "Tier" else "title"
        raise PlanError(
            f"malformed heading: expected '{kind} <id>: <{what}>'", path=path, line=line
        )
    heading_id = parts.group("id")
    if not re.match(ID_PATTERN, heading_id):
        raise PlanError(
            f"{kind.lower()} id {heading_id!r} must be letters, digits, '.', '_' or '-' (at most 64)",
            path=path,
            line=line,
        )
    return heading_id, parts.group("name")


def _choice(key: str, raw: str, path: str, line: int) -> StrEnum:
    enum = _ENUMS[key]
    try:
        return enum(raw.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise PlanError(
            f"unknown {key} {raw!r} (allowed: {allowed})", path=path, line=line
        ) from None


def _take_metadata(phase: _Phase, text: str, path: str, line: int) -> bool:
    """Consume a metadata line of `phase`; False when the line is free text."""
    match = _METADATA.match(text)
    if match is None:
        return False
    key, raw = match.group("key"), match.group("value")
    if key not in METADATA_KEYS:
        raise PlanError(
            f"unknown metadata key {key!r} (known: {', '.join(METADATA_KEYS)})",
            path=path,
            line=line,
        )
    if not raw:
        raise PlanError(f"metadata {key!r} has no value", path=path, line=line)
    if key in _LISTS:
        items = [item.strip() for item in raw.split(_LISTS[key]) if item.strip()]
        phase.lists.setdefault(key, []).extend(items)
    elif key in phase.choices:
        raise PlanError(f"metadata {key!r} given twice", path=path, line=line)
    else:
        phase.choices[key] = _choice(key, raw, path, line)
        if key == "category" and raw.lower() != phase.choices[key].value:
            phase.upstream["category_alias"] = raw
    return True


def _scan(text: str, path: str) -> _Draft:
    draft = _Draft()
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        tier = draft.tiers[-1] if draft.tiers else None
        phase = tier.phases[-1] if tier and tier.phases else None
        if not in_fence and (match := _TIER.match(line)):
            tier_id, name = _heading(match, "Tier", path, number)
            draft.tiers.append(_Tier(tier_id, name, number))
        elif not in_fence and (match := _PHASE.match(line)):
            if tier is None:
                raise PlanError("phase before any tier heading", path=path, line=number)
            phase_id, title = _heading(match, "Phase", path, number)
            tier.phases.append(_Phase(phase_id, title, number))
        elif not in_fence and not draft.tiers and not draft.title and (match := _TITLE.match(line)):
            draft.title = match.group("title")
        elif phase is not None:
            if phase.in_metadata and not in_fence:
                if not line.strip() and not (phase.choices or phase.lists):
                    continue
                if line.strip() and _take_metadata(phase, line, path, number):
                    continue
                phase.in_metadata = False
            phase.text.append(line)
        elif tier is not None:
            tier.text.append(line)
        else:
            draft.text.append(line)
    if in_fence:
        raise PlanError("a code fence is never closed", path=path)
    return draft


def _text(lines: list[str]) -> str:
    return "\n".join(lines).strip()


def _build(draft: _Draft, path: str) -> PlanSpec:
    tiers = []
    for tier in draft.tiers:
        phases = []
        for phase in tier.phases:
            try:
                spec = PhaseSpec.model_validate(
                    {
                        "id": phase.id,
                        "title": phase.title,
                        "tier_id": tier.id,
                        **phase.choices,
                        **phase.upstream,
                        **phase.lists,
                        "description": _text(phase.text),
                        "source_line": phase.line,
                    }
                )
            except ValidationError as error:
                raise PlanError(
                    f"invalid phase: {error.errors()[0]['msg']}", path=path, line=phase.line
                ) from None
            phases.append(spec)
        tiers.append(
            TierSpec(
                id=tier.id,
                name=tier.name,
                description=_text(tier.text),
                phases=tuple(phases),
                source_line=tier.line,
            )
        )
    return PlanSpec(
        title=draft.title, description=_text(draft.text), tiers=tuple(tiers), source_path=path
    )


def parse_markdown(text: str, source: str, *, redactor: Redactor | None = None) -> PlanSpec:
    """The plan in `text`, its secrets masked before anything (errors included) quotes it."""
    masked, _ = mask_plan_text(text, redactor or plan_redactor(), source)
    return validate_plan(_build(_scan(masked, source), source))
