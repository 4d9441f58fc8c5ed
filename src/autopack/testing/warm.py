"""Imported by a fork server (autopack/testing/kills.py): what every run process loads before its
first model call, loaded once, so each forked child starts where a warm process would."""

from __future__ import annotations

from genai_prices.data_snapshot import get_snapshot
from pydantic_ai.models.openai import OpenAIChatModel

from autopack.llm.tokens import o200k

o200k()
get_snapshot()
WARMED = (OpenAIChatModel,)
