"""`autopack demo`: the sample project run offline, from the shipped cassette, to DONE_SUCCESS."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.demo.record import CASSETTE
from autopack.run.durable import Listener
from autopack.run.execute import RunEnd, create_run, execute_run
from autopack.run.services import REPLAY_PREFIX, RunOptions


def sandbox_missing() -> bool:
    return shutil.which("bwrap") is None


def demo_folder(directory: Path | None) -> Path:
    """Where the sample project goes: `directory`, or a new temporary folder's `calc`."""
    return directory or Path(tempfile.mkdtemp(prefix="autopack-demo-")) / "calc"


def run_demo(directory: Path | None, listener: Listener | None = None) -> tuple[Path, RunEnd]:
    """The sample repository's path and how its run ended.

    Without bubblewrap the demo's own bundled tests run unsandboxed (and the run records that);
    real runs keep requiring the sandbox or an explicit --no-sandbox.
    """
    root = demo_folder(directory)
    plan = create_project(root)
    settings = load_settings(root)
    options = RunOptions(
        llm=f"{REPLAY_PREFIX}{CASSETTE}", no_sandbox=sandbox_missing(), record=False
    )
    run_id = create_run(settings, plan, options, check_base=True)
    return root, execute_run(settings, run_id, options, listener)
