"""Fixtures of the MCP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autopack.demo.developer import demo_reply
from autopack.testing.fake_llm import FakeLLMServer, fake_llm_server


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """The scripted developer behind the demo's models; each project on its own SQLite file."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("AUTOPACK_DATABASE_URL", raising=False)
    with fake_llm_server(demo_reply) as server:
        yield server
