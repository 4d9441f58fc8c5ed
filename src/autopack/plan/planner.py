"""Phase 0's planner: an LLM turns a free-form plan into the plan format, checked by the same parser.

A plan that already uses the format is never sent to a model; one that tries to use it and has a
mistake gets the parser's error, not a rewrite. Only text with no tier or phase headings at all
counts as free-form. The planner's answer must parse: a parser error goes back to the model as a retry,
and after the last retry the run is not created.
"""

from __future__ import annotations

import re

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits

from autopack.domain.plan import PlanSpec
from autopack.domain.vocabulary import BuilderMode, Complexity, TaskCategory
from autopack.errors import PlanError
from autopack.llm.redact import Redactor
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.plan.parse_markdown import parse_markdown

_PLAN_HEADING = re.compile(r"^##\s+Tier\b|^###\s+Phase\b", re.IGNORECASE | re.MULTILINE)
_FENCED = re.compile(r"^```[a-z]*\n(?P<body>.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def _choices(values: type[TaskCategory] | type[Complexity] | type[BuilderMode]) -> str:
    return ", ".join(value.value for value in values)


INSTRUCTIONS = f"""You are the planner of Autopack. Rewrite the user's plan in Autopack's plan format,
keeping every requirement and inventing none. Answer with the plan only, in this Markdown form:

# <plan title>

<one paragraph: what the plan achieves>

## Tier 1: <tier name>

### Phase 1.1: <phase title>
category: <one of: {_choices(TaskCategory)}>
complexity: <one of: {_choices(Complexity)}>
scope: <comma-separated file paths or globs the phase may change>
acceptance: <semicolon-separated checks that show the phase is done>

<what the phase must do, in plain sentences>

Rules: tiers are ordered groups of phases that can be reviewed together; a phase is one change a
developer could finish and test in a sitting; ids are unique; later phases may build on earlier
ones. Omit a metadata line rather than guess it."""


def is_free_form(text: str) -> bool:
    return _PLAN_HEADING.search(text) is None


def _unfenced(answer: str) -> str:
    fenced = _FENCED.search(answer)
    return fenced.group("body") if fenced else answer


async def normalise_plan(
    text: str, source: str, model: Model, *, retries: int = 1, redactor: Redactor | None = None
) -> PlanSpec:
    """The free-form `text` as a PlanSpec, or a PlanError saying why the planner could not.

    The model is paid and remote: `text` is masked of secrets here, whatever the caller did, and
    so is its answer (it parses through parse_markdown, which masks).
    """
    redactor = redactor or plan_redactor()
    text, _ = mask_plan_text(text, redactor, source)
    agent: Agent[None, str] = Agent(
        output_type=str, instructions=INSTRUCTIONS, retries={"output": retries, "tools": 0}
    )

    last_error: list[str] = []

    @agent.output_validator
    def _parses(context: RunContext[None], answer: str) -> str:
        try:
            parse_markdown(_unfenced(answer), source, redactor=redactor)
        except PlanError as error:
            last_error.append(
                error.detail if error.line is None else f"line {error.line}: {error.detail}"
            )
            raise ModelRetry(
                f"That plan does not parse: {error}. Answer again with the whole plan, corrected."
            ) from None
        return answer

    try:
        result = await agent.run(
            f"Plan to rewrite (from {source}):\n\n{text}",
            model=model,
            usage_limits=UsageLimits(request_limit=retries + 1),
        )
    except PlanError:
        raise
    except Exception as error:
        why = f"{type(error).__name__}: {error}"
        if last_error:
            why += f"; its last answer did not parse ({last_error[-1]})"
        raise PlanError(
            f"the plan has no '## Tier' headings, and the planner could not turn it into the plan "
            f"format: {why}",
            path=source,
        ) from None
    return parse_markdown(_unfenced(result.output), source, redactor=redactor)
