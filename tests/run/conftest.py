"""Fixtures of the run tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def own_database() -> Iterator[None]:
    """Each demo project on its own SQLite file, whatever database the suite was given, with
    the fake providers' keys."""
    os.environ.setdefault("OPENAI_API_KEY", "test-key")
    os.environ.setdefault("ANTHROPIC_API_KEY", "test-key")
    saved = os.environ.pop("AUTOPACK_DATABASE_URL", None)
    yield
    if saved is not None:
        os.environ["AUTOPACK_DATABASE_URL"] = saved
