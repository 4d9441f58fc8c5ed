"""DBOS launched more than once in a process whose stderr changed in between."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.run.durable import durable_executor


def test_a_launch_after_the_first_launchs_stderr_was_closed_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOPACK_DATABASE_URL", raising=False)
    root = tmp_path / "calc"
    create_project(root)
    settings = load_settings(root)
    dbos_logger = logging.getLogger("dbos")
    monkeypatch.setattr(dbos_logger, "handlers", [])  # DBOS makes its console handler anew
    first_stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first_stderr)
    with durable_executor(settings):
        pass
    first_stderr.close()  # as typer's CliRunner closes its captured streams
    later_stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later_stderr)
    with durable_executor(settings) as identity:
        assert identity
    assert any(getattr(handler, "stream", None) is later_stderr for handler in dbos_logger.handlers)
