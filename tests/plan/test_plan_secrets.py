"""Secrets pasted into a plan are masked as it is read, naming their kind; look-alikes are kept."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import yaml
from pydantic_ai import models
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from autopack.demo.project import PLAN
from autopack.domain.plan import PlanSpec
from autopack.errors import PlanError
from autopack.llm.aliases import default_aliases
from autopack.llm.redact import MASK, Redactor
from autopack.plan.load import FreeFormPlan, load_plan
from autopack.plan.mask import mask_plan_text, plan_redactor
from autopack.plan.planner import normalise_plan

# Built from parts so no scanner mistakes the test for a leak; each has its kind's real shape.
OPENAI = "sk-" + "proj-" + "FAKEtestKEY0123456789abcdefXYZ"
OPENAI_LEGACY = "sk-" + "FAKE0123456789abcdefghijklmnopqrstuvwxyzABCD"
ANTHROPIC = "sk-" + "ant-api03-" + "FAKEtestKEY0123456789abcdef"
GITHUB = "ghp_" + "FAKE0123456789abcdefghijklmnopqrstuv"
AWS = "AKIA" + "FAKE0123456789AB"
SLACK = "xoxb-" + "1234567890-FAKEtoken"
# A provider key of no known shape: only its value in the environment gives it away.
ENV_KEY = "plain-env-value-7f3a9c"

KINDS = [
    (OPENAI, "openai key"),
    (OPENAI_LEGACY, "openai key"),
    (ANTHROPIC, "anthropic key"),
    (GITHUB, "github token"),
    (AWS, "aws access key"),
    (SLACK, "slack token"),
]


def _everything(plan: PlanSpec) -> str:
    return plan.model_dump_json()


def _plan_with(secret: str) -> str:
    return (
        f"# Plan using {secret}\n\n"
        f"## Tier 1: Keys like {secret}\n\n"
        f"### Phase 1.1: Call the API with {secret}\n"
        "category: feature\n"
        f"acceptance: curl -H 'x: {secret}' works\n\n"
        f"Use the key {secret} to call the service.\n"
    )


@pytest.mark.parametrize(("secret", "kind"), KINDS)
def test_each_kind_of_key_is_masked_everywhere_in_a_markdown_plan_and_named(
    tmp_path: Path, secret: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plan.md"
    path.write_text(_plan_with(secret))
    with caplog.at_level(logging.WARNING):
        plan = load_plan(path)
    assert secret not in _everything(plan)
    mask = f"[secret masked: {kind}]"
    phase = plan.phases[0]
    assert phase.title == f"Call the API with {mask}"
    assert phase.description == f"Use the key {mask} to call the service."
    assert phase.acceptance == (f"curl -H 'x: {mask}' works",)
    assert plan.tiers[0].name == f"Keys like {mask}"
    assert plan.title == f"Plan using {mask}"
    # The user is told where and what, never the value.
    assert secret not in caplog.text
    assert f"line 7: a secret ({kind}) was masked" in caplog.text


def test_the_value_of_a_provider_key_in_the_environment_is_masked_whatever_its_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    path = tmp_path / "plan.md"
    path.write_text(_plan_with(ENV_KEY))
    plan = load_plan(path, redactor=plan_redactor(default_aliases()))
    assert ENV_KEY not in _everything(plan)
    assert plan.phases[0].title == "Call the API with [secret masked: value of ANTHROPIC_API_KEY]"
    # Not key-shaped: without the environment it would have passed.
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert ENV_KEY in _everything(load_plan(path))


def test_a_key_file_that_cannot_be_read_does_not_stop_a_plan_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY_FILE", str(tmp_path / "missing.key"))
    path = tmp_path / "plan.md"
    path.write_text(_plan_with(OPENAI))
    assert OPENAI not in _everything(load_plan(path))


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_structured_plans_are_masked_string_by_string_and_still_read(
    tmp_path: Path, fmt: str
) -> None:
    data = {
        "title": OPENAI,
        "tiers": [
            {
                "id": 1,
                "name": f"tier {GITHUB}",
                "phases": [
                    {
                        "id": "1.1",
                        "title": AWS,
                        "description": f"token: {ANTHROPIC}\napi_key = {OPENAI}",
                        "acceptance": [f"echo {SLACK}"],
                    }
                ],
            }
        ],
    }
    path = tmp_path / f"plan.{fmt}"
    # YAML as people write it: plain scalars, where a mask written into the text would not parse.
    path.write_text(yaml.safe_dump(data) if fmt == "yaml" else json.dumps(data))
    plan = load_plan(path)
    for secret, _ in KINDS:
        assert secret not in _everything(plan)
    assert plan.title == "[secret masked: openai key]"
    assert plan.phases[0].title == "[secret masked: aws access key]"
    assert plan.phases[0].description == (
        "token: [secret masked: anthropic key]\napi_key = [secret masked: openai key]"
    )
    assert plan.phases[0].acceptance == ("echo [secret masked: slack token]",)


def test_a_plan_error_quotes_the_masked_text_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "plan.md"
    path.write_text(f"## Tier 1: One\n\n### Phase 1.1: Work\ncategory: {OPENAI}\n")
    with pytest.raises(PlanError) as refused:
        load_plan(path)
    assert OPENAI not in str(refused.value)
    assert "[secret masked: openai key]" in str(refused.value)


def test_a_free_form_plan_is_masked_before_the_planner_could_see_it(tmp_path: Path) -> None:
    path = tmp_path / "wish.txt"
    path.write_text(f"Please add subtraction. Our key is {OPENAI}, the bot's is {GITHUB}.\n")
    with pytest.raises(FreeFormPlan) as free_form:
        load_plan(path)
    assert OPENAI not in free_form.value.text
    assert GITHUB not in free_form.value.text
    assert "[secret masked: github token]" in free_form.value.text


def test_the_planner_never_sends_a_secret_and_masks_its_own_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given raw text by any caller; the model (pydantic-ai's FunctionModel) records its prompt."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    seen: list[str] = []

    def planner(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(repr(messages))
        answer = PLAN.replace("Add subtraction", f"Add subtraction with {ANTHROPIC}")
        return ModelResponse(parts=[TextPart(answer)])

    wish = f"Add subtraction using {OPENAI} and {ENV_KEY}; commit with {GITHUB}."
    plan = asyncio.run(normalise_plan(wish, "wish.txt", FunctionModel(planner)))
    assert seen
    for secret in (OPENAI, ENV_KEY, GITHUB):
        assert secret not in "".join(seen)
    assert "[secret masked: value of ANTHROPIC_API_KEY]" in "".join(seen)
    assert ANTHROPIC not in _everything(plan)
    assert plan.phases[0].title == "Add subtraction with [secret masked: anthropic key]"


NEAR_MISSES = [
    "Add a task-scheduling-and-notification-service module",
    "Use scikit-learn (sk-learn) for the model",
    "The sk- prefix marks OpenAI keys; never commit one.",
    "Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "- password: required, at least twelve characters",
    "The token: refreshed on every request",
    "Send Bearer authentication headers",
    "secret = configuration-from-vault",
    "AKIA keys start with AKIA; ghp_ tokens with ghp_",
    "see https://example.com/user@host and mailto:someone@example.com",
    "The ghp_short token and xoxb- are just prefixes",
]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_look_alikes_in_a_plan_are_left_as_written(tmp_path: Path, line: str) -> None:
    path = tmp_path / "plan.md"
    path.write_text(f"## Tier 1: One\n\n### Phase 1.1: {line}\n\nAs written:\n{line}\n")
    plan = load_plan(path)
    assert plan.phases[0].title == line
    assert plan.phases[0].description == f"As written:\n{line}"
    assert mask_plan_text(line, Redactor()) == (line, ())


def test_logs_and_prompts_still_mask_what_a_plan_reads_as_prose() -> None:
    """Outside plans a context-found value is masked whatever it looks like: a log can afford it."""
    assert Redactor().text("password: required") == f"password: {MASK}"
    assert mask_plan_text("password: required", Redactor())[0] == "password: required"
    assert Redactor().text("a task-scheduling-and-notification-service") == (
        "a task-scheduling-and-notification-service"
    )


def test_findings_say_which_line_and_kind_and_masks_are_not_masked_again() -> None:
    text = f"first\napi_key: {OPENAI}\nthird {AWS} and {GITHUB}\n"
    masked, found = mask_plan_text(text, Redactor())
    assert [(f.where, f.kind) for f in found] == [
        ("line 2", "openai key"),
        ("line 3", "aws access key"),
        ("line 3", "github token"),
    ]
    assert mask_plan_text(masked, Redactor({ENV_KEY: "value of X"})) == (masked, ())
