"""Imported by a fork server (autopack/testing/kills.py): what every run process loads before its
first model call, loaded once, so each forked child starts where a warm process would."""

from __future__ import annotations

import pydantic_ai.models.openai  # noqa: F401  (imported to be loaded)
from genai_prices.data_snapshot import get_snapshot

from autopack.llm.tokens import o200k

o200k()
get_snapshot()
