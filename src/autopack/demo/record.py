"""Re-record the demo's cassette: `python -m autopack.demo.record`.

The scripted developer answers on the fake OpenAI server, the real pipeline runs the demo plan,
and the run's recorded answers become the cassette `autopack demo` replays. Run it whenever a
change alters what the Builder or Auditor sends (the demo then reports a replay miss).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.run.execute import create_run, execute_run
from autopack.run.services import CASSETTE_FILE, RunOptions
from autopack.testing.fake_llm import fake_llm_server

CASSETTE = Path(__file__).parent / "data" / "demo_cassette.jsonl"
DEMO_ALIASES = ("openai-standard", "openai-fast")


def aliases_on(base_url: str) -> str:
    return "".join(
        f'\n[models.aliases.{alias}]\nbase_url = "{base_url}"\n' for alias in DEMO_ALIASES
    )


def record(target: Path = CASSETTE) -> Path:
    os.environ.setdefault("OPENAI_API_KEY", "test-key")
    with tempfile.TemporaryDirectory() as folder, fake_llm_server(demo_reply) as server:
        root = Path(folder) / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, plan, options)
        end = execute_run(settings, run_id, options)
        if end.state.value != "DONE_SUCCESS":
            raise SystemExit(f"the recording run ended {end.state.value}: {end.message}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(settings.runs_dir / run_id / CASSETTE_FILE, target)
    return target


if __name__ == "__main__":
    print(record(Path(sys.argv[1]) if len(sys.argv) > 1 else CASSETTE))
