"""The Markdown plan format: structure, metadata, and errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.domain.plan import PlanSpec
from autopack.domain.vocabulary import BuilderMode, Complexity, TaskCategory
from autopack.errors import PlanError
from autopack.plan.load import FreeFormPlan, load_plan, parse_plan_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def parse(text: str) -> PlanSpec:
    return parse_plan_text(text, fmt="markdown", source="plan.md")


def error_of(text: str) -> PlanError:
    with pytest.raises(PlanError) as caught:
        parse(text)
    return caught.value


def test_example_plan_parses_completely() -> None:
    plan = load_plan(EXAMPLES / "comprehensive_plan.md")
    assert plan.title == "Todo API"
    assert [tier.id for tier in plan.tiers] == ["1", "2", "3"]
    assert [phase.id for phase in plan.phases] == ["1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "3.2"]
    first = plan.phases[0]
    assert first.category is TaskCategory.FEATURE
    assert first.complexity is Complexity.MEDIUM
    assert first.builder_mode is BuilderMode.SCAFFOLDING_HEAVY
    assert first.scope == (
        "src/todo/model.py",
        "src/todo/repository.py",
        "tests/test_repository.py",
    )
    assert first.acceptance == (
        "tests/test_repository.py::test_round_trip",
        "python -m pytest -q tests/test_repository.py",
    )
    assert first.description.startswith("Create a `Todo` dataclass")
    assert plan.tiers[0].description.startswith("The data model")
    assert plan.description.startswith("A small HTTP API")
    assert plan.phases[1].category is None
    assert plan.phases[1].depends_on == ("1.1",)
    assert plan.phases[3].depends_on == ("1.1", "1.2")
    assert plan.phases[0].source_line == 10
    assert plan.source_path == str(EXAMPLES / "comprehensive_plan.md")


def test_list_item_metadata_and_repeated_lists_are_accepted() -> None:
    plan = parse(
        "## Tier 1: One\n### Phase a: A\n- category: docs\n- scope: docs/a.md\n* scope: docs/b.md\n"
        "acceptance: make docs; make lint\n\nWrite it.\n"
    )
    phase = plan.phases[0]
    assert phase.category is TaskCategory.DOCS
    assert phase.scope == ("docs/a.md", "docs/b.md")
    assert phase.acceptance == ("make docs", "make lint")
    assert phase.description == "Write it."


def test_metadata_ends_at_free_text_so_later_key_like_lines_are_text() -> None:
    plan = parse("## Tier 1: One\n### Phase a: A\nDo this first.\nscope: not metadata here\n")
    assert plan.phases[0].scope == ()
    assert "scope: not metadata here" in plan.phases[0].description


def test_headings_inside_code_fences_are_text() -> None:
    plan = parse("## Tier 1: One\n### Phase a: A\nExample:\n```md\n## Tier 9: Not real\n```\n")
    assert len(plan.tiers) == 1
    assert "## Tier 9" in plan.phases[0].description


def test_other_headings_are_description_text() -> None:
    plan = parse("# T\n## Overview\nwhy\n## Tier 1: One\n### Phase a: A\n#### Notes\nn\n")
    assert "## Overview" in plan.description
    assert "#### Notes" in plan.phases[0].description


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "## Tier 1: One\n### Phase a: A\ncategory: nonsense\n",
            3,
            "unknown category 'nonsense' (allowed: feature",
        ),
        ("## Tier 1: One\n### Phase a: A\ncomplexity: huge\n", 3, "unknown complexity 'huge'"),
        ("## Tier 1: One\n### Phase a: A\nbuilder_mode: yolo\n", 3, "unknown builder_mode"),
        ("## Tier 1: One\n### Phase a: A\nowner: me\n", 3, "unknown metadata key 'owner'"),
        ("## Tier 1: One\n### Phase a: A\ncategory: docs\ncategory: docs\n", 4, "given twice"),
        ("## Tier 1: One\n### Phase a: A\nscope:\n", 3, "has no value"),
        ("# P\n### Phase a: A\n", 2, "phase before any tier"),
        ("## Tier : x\n", 1, "malformed heading"),
        ("## Tier 1 One\n", 1, "malformed heading"),
        ("## Tier 1: One\n### Phase a:\n", 2, "malformed heading"),
        ("## Tier 1: One\n### Phase a/b: A\n", 2, "phase id 'a/b'"),
        (
            "## Tier 1: One\n### Phase a: A\n### Phase a: Again\n",
            3,
            "duplicate phase id 'a' (first at line 2)",
        ),
        (
            "## Tier 1: One\n### Phase a: A\n## Tier 1: Two\n### Phase b: B\n",
            3,
            "duplicate tier id '1'",
        ),
        ("## Tier 1: One\n## Tier 2: Two\n### Phase a: A\n", 1, "tier '1' has no phases"),
        ("## Tier 1: One\n### Phase a: A\ndepends_on: z\n", 2, "unknown phase 'z'"),
        ("## Tier 1: One\n### Phase a: A\ndepends_on: a\n", 2, "depends on itself"),
        (
            "## Tier 1: One\n### Phase a: A\ndepends_on: b\n## Tier 2: Two\n### Phase b: B\n",
            2,
            "depends on 'b' in the later tier '2'",
        ),
        (
            # A cycle always has a dependency on a later phase, refused as such.
            "## Tier 1: One\n### Phase a: A\ndepends_on: b\n### Phase b: B\ndepends_on: a\n",
            2,
            "phase 'a' depends on 'b', which comes after it in the plan",
        ),
    ],
)
def test_errors_name_file_line_and_problem(text: str, line: int, message: str) -> None:
    error = error_of(text)
    assert error.path == "plan.md"
    assert error.line == line
    assert message in str(error)
    assert str(error).startswith(f"plan.md:{line}: ")


def test_plan_without_tiers_is_named_free_form_for_the_planner() -> None:
    error = error_of("# Just a title\n\nSome words.\n")
    assert isinstance(error, FreeFormPlan)
    assert "free-form plan" in str(error)
    assert error.text == "# Just a title\n\nSome words.\n"


def test_unclosed_fence_is_refused() -> None:
    assert "never closed" in str(error_of("## Tier 1: One\n### Phase a: A\n```\ncode\n"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.md", None, "plan file not found"),
        ("plan.rst", "x", "unsupported plan file type '.rst'"),
        ("latin1.md", b"## Tier 1: \xe9\n", "not UTF-8"),
    ],
)
def test_file_problems_are_plan_errors(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(PlanError, match=message) as caught:
        load_plan(path)
    assert str(path) in str(caught.value)


def test_directory_is_not_a_plan(tmp_path: Path) -> None:
    folder = tmp_path / "plan.md"
    folder.mkdir()
    with pytest.raises(PlanError, match="directory"):
        load_plan(folder)
