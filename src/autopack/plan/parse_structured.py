"""The plan format as YAML or JSON: the same structure as the Markdown, validated by the same rules."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from autopack.domain.plan import PlanSpec
from autopack.errors import PlanError
from autopack.llm.redact import Redactor
from autopack.plan.mask import mask_plan_data, plan_redactor
from autopack.plan.validate import validate_plan


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _yaml_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line of the YAML node at `loc`, or of its nearest existing parent."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _id_text(value: Any) -> Any:
    # YAML reads `id: 2` as a number; an integer id is unambiguous, so accept it as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _normalise_phase(phase: Any, tier_id: Any) -> Any:
    if not isinstance(phase, dict):
        return phase
    normalised = {"tier_id": tier_id, **phase, "id": _id_text(phase.get("id"))}
    if isinstance(phase.get("depends_on"), list):
        normalised["depends_on"] = [_id_text(item) for item in phase["depends_on"]]
    return normalised


def _with_tier_ids(data: Any) -> Any:
    """Phases in a structured plan sit inside their tier, so their tier id is implied."""
    if not isinstance(data, dict) or not isinstance(data.get("tiers"), list):
        return data
    tiers = []
    for tier in data["tiers"]:
        if isinstance(tier, dict):
            tier = {**tier, "id": _id_text(tier.get("id"))}
            if isinstance(tier.get("phases"), list):
                tier["phases"] = [_normalise_phase(phase, tier["id"]) for phase in tier["phases"]]
        tiers.append(tier)
    return {**data, "tiers": tiers}


def parse_structured(
    text: str, source: str, *, fmt: str, redactor: Redactor | None = None
) -> PlanSpec:
    """The plan in `text`, every string in it masked of secrets before it is validated."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"not valid JSON: {error.msg}", path=source, line=error.lineno) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PlanError(
            f"not valid YAML: {getattr(error, 'problem', error)}", path=source, line=line
        ) from None
    if not isinstance(data, dict):
        raise PlanError("expected a mapping with 'tiers' at the top level", path=source, line=1)
    data, _ = mask_plan_data(data, redactor or plan_redactor(), source)
    try:
        plan = PlanSpec.model_validate({**_with_tier_ids(data), "source_path": source})
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        line = _yaml_line(text, loc) if fmt == "yaml" else None
        raise PlanError(f"{_dotted(loc)}: {first['msg']}", path=source, line=line) from None
    return validate_plan(plan)
