"""Read a plan file of any supported format; either a complete PlanSpec comes back or a PlanError."""

from __future__ import annotations

from pathlib import Path

from autopack.domain.plan import PlanSpec
from autopack.errors import PlanError
from autopack.llm.redact import Redactor
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.plan.parse_markdown import parse_markdown
from autopack.plan.parse_structured import parse_structured
from autopack.plan.planner import is_free_form

FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".txt": "text",
}


class FreeFormPlan(PlanError):
    """Text with no tier headings: only the planner (`autopack run`) can turn it into a plan."""

    def __init__(self, text: str, path: Path | str):
        self.text = text
        super().__init__(
            "no '## Tier' headings: this is a free-form plan; `autopack run` has the planner "
            "rewrite it in the plan format (see docs/plan-format.md)",
            path=path,
        )


def parse_plan_text(
    text: str, *, fmt: str, source: str, redactor: Redactor | None = None
) -> PlanSpec:
    """The plan, with every secret in it masked (plan/mask.py); a free-form plan's text too."""
    redactor = redactor or plan_redactor()
    if fmt in ("markdown", "text"):
        masked, _ = mask_plan_text(text, redactor, source)
        if is_free_form(masked):
            raise FreeFormPlan(masked, source)
        return parse_markdown(masked, source, redactor=redactor)
    if fmt in ("yaml", "json"):
        return parse_structured(text, source, fmt=fmt, redactor=redactor)
    raise PlanError(f"unknown plan format {fmt!r} (known: markdown, text, yaml, json)", path=source)


def load_plan(path: Path, *, redactor: Redactor | None = None) -> PlanSpec:
    """`redactor`: the run's, knowing its aliases' keys; by default the shipped aliases' keys."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PlanError(
            f"unsupported plan file type {path.suffix or '(none)'!r} "
            "(use .md, .yaml, .yml, .json, or .txt for a free-form plan)",
            path=path,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError("plan file not found", path=path) from None
    except IsADirectoryError:
        raise PlanError("is a directory, not a plan file", path=path) from None
    except UnicodeDecodeError as error:
        raise PlanError(f"not UTF-8 text (byte {error.start})", path=path) from None
    except OSError as error:
        raise PlanError(f"cannot be read: {error.strerror}", path=path) from None
    return parse_plan_text(text, fmt=fmt, source=str(path), redactor=redactor)
