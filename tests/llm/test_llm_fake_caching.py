"""The fake providers bill prompt caching by each provider's documented rules, through the
official SDKs: OpenAI's 1,024-token minimum and 128-token steps, Anthropic's breakpoints and
per-model minimum cacheable prefix."""

from __future__ import annotations

from anthropic import Anthropic
from openai import OpenAI

from autopack.llm.tokens import count_tokens
from autopack.testing.fake_llm import Reply, fake_llm_server

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"


def text_of(tokens: int) -> str:
    """A text of about `tokens` o200k tokens."""
    words = WORDS.split() * (tokens // len(WORDS.split()) + 1)
    per_word = count_tokens(" ".join(words)) / len(words)
    return " ".join(words[: int(tokens / per_word)])


def test_openai_serves_a_repeated_prefix_from_1024_tokens_in_steps_of_128() -> None:
    replies = [Reply(text="ok")] * 4
    with fake_llm_server(replies, usage_from_request=True) as server:
        client = OpenAI(base_url=server.openai_base_url, api_key="test-key", max_retries=0)

        def cached(system: str, question: str) -> tuple[int, int]:
            usage = client.chat.completions.create(
                model="gpt-6.1-sol",
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": question},
                ],
                prompt_cache_key="conversation-1",
            ).usage
            assert usage is not None
            details = usage.prompt_tokens_details
            assert details is not None
            return usage.prompt_tokens, details.cached_tokens or 0

        short, long = text_of(600), text_of(1_500)
        assert cached(short, "one")[1] == 0
        assert cached(short, "two")[1] == 0  # a repeat under 1,024 tokens is not cached
        assert cached(long, "one")[1] == 0
        total, hit = cached(long, "two")
    prefix = server.bills[-1].input_tokens - count_tokens('{"content":"two","role":"user"}')
    assert hit >= 1024
    assert (hit - 1024) % 128 == 0
    assert prefix - 128 < hit <= prefix < total


def test_anthropic_caches_a_breakpoint_only_past_the_models_minimum() -> None:
    replies = [Reply(text="ok")] * 4
    with fake_llm_server(replies, usage_from_request=True) as server:
        client = Anthropic(base_url=server.anthropic_base_url, api_key="test-key", max_retries=0)

        def usage(model: str) -> tuple[int, int]:
            answer = client.messages.create(
                model=model,
                max_tokens=100,
                system=[
                    {
                        "type": "text",
                        "text": text_of(1_500),
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
                messages=[{"role": "user", "content": "hello"}],
            ).usage
            return answer.cache_creation_input_tokens or 0, answer.cache_read_input_tokens or 0

        # About 1,500 tokens: past Sonnet's 1,024-token minimum, short of Haiku's 2,048.
        assert usage("claude-sonnet-5-5")[0] > 1_024
        assert usage("claude-sonnet-5-5") == (0, server.bills[0].cache_write_tokens)
        assert usage("claude-haiku-5-5") == (0, 0)
        assert usage("claude-haiku-5-5") == (0, 0)


def test_scripted_usage_is_kept_unless_the_server_counts_it() -> None:
    with fake_llm_server([Reply(text="ok", input_tokens=77)]) as server:
        client = OpenAI(base_url=server.openai_base_url, api_key="test-key", max_retries=0)
        usage = client.chat.completions.create(
            model="gpt-6.1-sol", messages=[{"role": "user", "content": "hi"}]
        ).usage
    assert usage is not None
    assert usage.prompt_tokens == 77
