"""The fake provider servers speak the real wire protocols: the official SDKs work against them."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import pytest

from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server, load_script

KEY = "test-key"


def openai_client(base_url: str, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, **options)  # type: ignore[arg-type]


def anthropic_client(base_url: str, **options: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=KEY, max_retries=0, **options)  # type: ignore[arg-type]


def test_openai_chat_completion_with_usage_and_tool_calls() -> None:
    script = [
        Reply(text="hello there", input_tokens=120, cached_input_tokens=20, output_tokens=7),
        Reply(
            tool_calls=(ToolCall(name="read_file", arguments={"path": "src/app.py"}),),
            output_tokens=12,
        ),
    ]
    with fake_llm_server(script) as server:
        client = openai_client(server.openai_base_url)
        first = client.chat.completions.create(
            model="gpt-6-astra", messages=[{"role": "user", "content": "hi"}]
        )
        assert first.choices[0].message.content == "hello there"
        assert first.usage is not None
        assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (120, 7)
        assert first.usage.prompt_tokens_details is not None
        assert first.usage.prompt_tokens_details.cached_tokens == 20
        second = client.chat.completions.create(
            model="gpt-6-astra", messages=[{"role": "user", "content": "read"}]
        )
        call = second.choices[0].message.tool_calls
        assert call is not None
        assert call[0].function.name == "read_file"
        assert call[0].function.arguments == '{"path": "src/app.py"}'
        assert server.calls_per_model["gpt-6-astra"] == 2
        assert server.billed_tokens() == 120 + 7 + 10 + 12


def test_openai_streaming_ends_with_a_usage_chunk() -> None:
    with fake_llm_server([Reply(text="one two three", input_tokens=30, output_tokens=3)]) as server:
        stream = openai_client(server.openai_base_url).chat.completions.create(
            model="gpt-6.1-sol",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "one two three"
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (30, 3)


def test_anthropic_messages_with_text_tool_use_and_cache_usage() -> None:
    script = [
        Reply(text="Done.", input_tokens=200, cached_input_tokens=150, output_tokens=9),
        Reply(tool_calls=(ToolCall(name="run_tests", arguments={"selector": "tests/"}),)),
    ]
    with fake_llm_server(script) as server:
        client = anthropic_client(server.anthropic_base_url)
        first = client.messages.create(
            model="claude-sonnet-5-5", max_tokens=100, messages=[{"role": "user", "content": "go"}]
        )
        assert first.content[0].type == "text"
        assert first.usage.input_tokens == 50
        assert first.usage.cache_read_input_tokens == 150
        second = client.messages.create(
            model="claude-sonnet-5-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "test"}],
        )
        tool = second.content[0]
        assert tool.type == "tool_use"
        assert (tool.name, tool.input) == ("run_tests", {"selector": "tests/"})
        assert second.stop_reason == "tool_use"
        assert server.calls_per_model["claude-sonnet-5-5"] == 2


@pytest.mark.parametrize(
    ("fault", "openai_error", "anthropic_error"),
    [
        ("429", openai.RateLimitError, anthropic.RateLimitError),
        ("500", openai.InternalServerError, anthropic.InternalServerError),
        ("503", openai.InternalServerError, anthropic.APIStatusError),
        ("invalid_key", openai.AuthenticationError, anthropic.AuthenticationError),
        ("insufficient_quota", openai.RateLimitError, anthropic.BadRequestError),
    ],
)
def test_faults_reach_the_sdks_as_their_own_errors(
    fault: str, openai_error: type[Exception], anthropic_error: type[Exception]
) -> None:
    with fake_llm_server([Reply(fault=fault), Reply(fault=fault)]) as server:
        with pytest.raises(openai_error):
            openai_client(server.openai_base_url).chat.completions.create(
                model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(anthropic_error):
            anthropic_client(server.anthropic_base_url).messages.create(
                model="claude-haiku-5-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
        assert server.bills == []


def test_rate_limit_then_success_is_retried_by_the_sdk_and_billed_once() -> None:
    with fake_llm_server(
        [Reply(fault="429", retry_after=0.01), Reply(text="ok", input_tokens=5, output_tokens=1)]
    ) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=2)
        reply = client.chat.completions.create(
            model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.content == "ok"
        assert server.faults_served["429"] == 1
        assert len(server.bills) == 1


def test_wrong_key_is_refused_without_consuming_the_script() -> None:
    with fake_llm_server([Reply(text="kept")]) as server:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=server.openai_base_url, api_key="wrong", max_retries=0
            ).chat.completions.create(
                model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
            )
        reply = openai_client(server.openai_base_url).chat.completions.create(
            model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.content == "kept"


def test_slow_answers_hit_the_client_timeout() -> None:
    with fake_llm_server([Reply(text="late", delay=2.0)]) as server:
        client = openai_client(server.openai_base_url, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(
                model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
            )


def test_truncated_json_fails_to_parse() -> None:
    with fake_llm_server([Reply(fault="truncated")]) as server:
        client = openai_client(server.openai_base_url)
        with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
            client.chat.completions.create(
                model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
            )


def test_garbage_body_is_not_a_completion() -> None:
    with fake_llm_server([Reply(fault="garbage")]) as server:
        reply = openai_client(server.openai_base_url).chat.completions.create(
            model="gpt-6-astra", messages=[{"role": "user", "content": "x"}]
        )
    assert not hasattr(reply, "choices")
    assert server.bills == []


def test_jsonl_scripts_and_callable_scripts(tmp_path: Path) -> None:
    path = tmp_path / "script.jsonl"
    path.write_text('{"text": "from file", "output_tokens": 3}\n\n{"fault": "500"}\n')
    assert [r.text for r in load_script(path)] == ["from file", ""]
    seen: list[str] = []

    def answer(api: str, request: dict[str, object]) -> Reply:
        seen.append(f"{api}:{request['model']}")
        return Reply(text=f"echo {request['model']}")

    with fake_llm_server(answer) as server:
        reply = anthropic_client(server.anthropic_base_url).messages.create(
            model="claude-opus-5-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert reply.content[0].type == "text"
    assert seen == ["anthropic:claude-opus-5-5"]
