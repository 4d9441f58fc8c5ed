"""Record a conversation against the fake server, replay it with no server at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai import Agent

from autopack.llm.aliases import default_aliases
from autopack.llm.providers import build_model
from autopack.llm.replay import RecordingModel, ReplayMiss, ReplayModel
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

SCRIPT = [
    Reply(
        tool_calls=(ToolCall(name="add", arguments={"a": 2, "b": 3}),),
        input_tokens=80,
        output_tokens=10,
    ),
    Reply(text="2 + 3 = 5", input_tokens=120, output_tokens=6),
]


def agent_with(model: object) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(model)  # type: ignore[call-overload]

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        return a + b

    return agent


def record(cassette: Path) -> tuple[str, int]:
    with fake_llm_server(SCRIPT) as server:
        alias = default_aliases()["openai-standard"].model_copy(
            update={"base_url": server.openai_base_url}
        )
        result = agent_with(
            RecordingModel(build_model("openai-standard", alias, "test-key"), cassette)
        ).run_sync("What is 2 + 3?")
        return result.output, result.usage.total_tokens


def test_replay_gives_the_recorded_answers_and_usage_without_a_server(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    live_output, live_tokens = record(cassette)
    assert len(cassette.read_text().splitlines()) == 2
    replayed = agent_with(ReplayModel(cassette, "gpt-6.1-sol")).run_sync("What is 2 + 3?")
    assert (
        (replayed.output, replayed.usage.total_tokens)
        == (live_output, live_tokens)
        == ("2 + 3 = 5", 216)
    )


def test_a_request_not_in_the_cassette_names_its_fingerprint(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    record(cassette)
    with pytest.raises(
        ReplayMiss, match=r"request [0-9a-f]{32} for gpt-6.1-sol is not in cassette"
    ):
        agent_with(ReplayModel(cassette, "gpt-6.1-sol")).run_sync("What is 4 + 4?")


def test_broken_cassettes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayMiss, match="cannot be read"):
        ReplayModel(tmp_path / "missing.jsonl", "m")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"fingerprint": "x"}\n')
    with pytest.raises(ReplayMiss, match=r"broken.jsonl:1: not a cassette line"):
        ReplayModel(broken, "m")
