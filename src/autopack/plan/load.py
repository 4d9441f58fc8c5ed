"""Read a plan file of any supported format; either a complete PlanSpec comes back or a PlanError."""

from __future__ import annotations

from pathlib import Path

from autopack.domain.plan import PlanSpec
from autopack.errors import PlanError
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


def parse_plan_text(text: str, *, fmt: str, source: str) -> PlanSpec:
    if fmt in ("markdown", "text") and is_free_form(text):
        raise FreeFormPlan(text, source)
    if fmt in ("markdown", "text"):
        return parse_markdown(text, source)
    if fmt in ("yaml", "json"):
        return parse_structured(text, source, fmt=fmt)
    raise PlanError(f"unknown plan format {fmt!r} (known: markdown, text, yaml, json)", path=source)


def load_plan(path: Path) -> PlanSpec:
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
    return parse_plan_text(text, fmt=fmt, source=str(path))
