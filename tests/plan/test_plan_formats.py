"""YAML and JSON carry the same plan as Markdown; rendering and re-parsing loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.vocabulary import BuilderMode, Complexity, TaskCategory
from autopack.errors import PlanError
from autopack.plan.load import load_plan, parse_plan_text
from autopack.plan.render_markdown import render_markdown

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def without_sources(plan: PlanSpec) -> PlanSpec:
    return plan.model_copy(
        update={
            "source_path": None,
            "tiers": tuple(
                tier.model_copy(
                    update={
                        "source_line": None,
                        "phases": tuple(
                            p.model_copy(update={"source_line": None}) for p in tier.phases
                        ),
                    }
                )
                for tier in plan.tiers
            ),
        }
    )


@pytest.mark.parametrize("name", ["comprehensive_plan.yaml", "comprehensive_plan.json"])
def test_structured_examples_equal_the_markdown_example(name: str) -> None:
    markdown = without_sources(load_plan(EXAMPLES / "comprehensive_plan.md"))
    assert without_sources(load_plan(EXAMPLES / name)) == markdown


def test_yaml_integer_ids_are_read_as_text() -> None:
    plan = parse_plan_text(
        "tiers:\n- id: 1\n  name: One\n  phases:\n  - id: 2\n    title: T\n  - id: 3\n    title: U\n    depends_on: [2]\n",
        fmt="yaml",
        source="p.yaml",
    )
    assert [p.id for p in plan.phases] == ["2", "3"]
    assert plan.phases[1].depends_on == ("2",)


def test_yaml_error_names_the_field_and_its_line() -> None:
    text = (
        "tiers:\n- id: a\n  name: One\n  phases:\n  - id: p\n    title: T\n    category: nonsense\n"
    )
    with pytest.raises(PlanError) as caught:
        parse_plan_text(text, fmt="yaml", source="p.yaml")
    assert caught.value.line == 7
    assert "tiers[0].phases[0].category" in str(caught.value)
    assert str(caught.value).startswith("p.yaml:7: ")


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"tiers": [', "json", "not valid JSON"),
        ("tiers: [unclosed", "yaml", "not valid YAML"),
        ("- just a list", "yaml", "expected a mapping"),
        (
            '{"tiers": [{"id": "1", "name": "x", "phases": [{"id": "a"}]}]}',
            "json",
            "tiers[0].phases[0].title",
        ),
        (
            '{"tiers": [{"id": "1", "name": "x", "phases": [{"id": "a", "title": "t", "owner": 1}]}]}',
            "json",
            "owner",
        ),
        ('{"tiers": []}', "json", "no tiers"),
        (
            '{"tiers": [{"id": "1", "name": "x", "phases": [{"id": "a", "title": "t", "depends_on": ["q"]}]}]}',
            "json",
            "unknown phase 'q'",
        ),
        (
            '{"tiers": [{"id": "1", "name": "x", "phases": [{"id": "a..b", "title": "t"}]}]}',
            "json",
            "'a..b' cannot name a git ref",
        ),
        (
            '{"tiers": [{"id": "1.", "name": "x", "phases": [{"id": "a", "title": "t"}]}]}',
            "json",
            "'1.' cannot name a git ref",
        ),
        (
            '{"tiers": [{"id": "1", "name": "x", "phases": [{"id": "x.lock", "title": "t"}]}]}',
            "json",
            "'x.lock' cannot name a git ref",
        ),
    ],
)
def test_structured_errors_are_plan_errors(text: str, fmt: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan_text(text, fmt=fmt, source=f"p.{fmt}")
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"p.{fmt}")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(PlanError, match="unknown plan format"):
        parse_plan_text("", fmt="toml", source="p.toml")


# Ids that can name a git ref: no "..", no trailing "." or ".lock" (the plan refuses those).
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True).filter(
    lambda value: ".." not in value and not value.endswith((".", ".lock"))
)
words = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True)
titles = st.lists(words, min_size=1, max_size=5).map(" ".join)
paragraphs = st.lists(st.lists(words, min_size=1, max_size=6).map(" ".join), max_size=3).map(
    "\n".join
)
globs = st.from_regex(r"[a-z]{1,6}(/[a-z*]{1,6}){0,2}\.[a-z]{1,3}", fullmatch=True)
commands = st.lists(words, min_size=1, max_size=4).map(" ".join)


@st.composite
def plans(draw: st.DrawFn) -> PlanSpec:
    phase_ids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    tier_ids = draw(st.lists(ids, min_size=1, max_size=min(3, len(phase_ids)), unique=True))
    tiers = []
    cursor = 0
    earlier: list[str] = []
    for index, tier_id in enumerate(tier_ids):
        remaining_tiers = len(tier_ids) - index - 1
        take = (
            len(phase_ids) - cursor - remaining_tiers
            if remaining_tiers == 0
            else draw(st.integers(1, len(phase_ids) - cursor - remaining_tiers))
        )
        phases = []
        for phase_id in phase_ids[cursor : cursor + take]:
            phases.append(
                PhaseSpec(
                    id=phase_id,
                    title=draw(titles),
                    tier_id=tier_id,
                    category=draw(st.none() | st.sampled_from(TaskCategory)),
                    complexity=draw(st.none() | st.sampled_from(Complexity)),
                    builder_mode=draw(st.none() | st.sampled_from(BuilderMode)),
                    scope=tuple(draw(st.lists(globs, max_size=3))),
                    acceptance=tuple(draw(st.lists(commands, max_size=2))),
                    depends_on=tuple(
                        draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True))
                    )
                    if earlier
                    else (),
                    description=draw(paragraphs),
                )
            )
            earlier.append(phase_id)
        cursor += take
        tiers.append(
            TierSpec(
                id=tier_id, name=draw(titles), description=draw(paragraphs), phases=tuple(phases)
            )
        )
    return PlanSpec(title=draw(titles), description=draw(paragraphs), tiers=tuple(tiers))


@settings(max_examples=80, deadline=None)
@given(plan=plans())
def test_rendered_markdown_parses_back_to_the_same_plan(plan: PlanSpec) -> None:
    parsed = parse_plan_text(render_markdown(plan), fmt="markdown", source="p.md")
    assert without_sources(parsed) == plan
