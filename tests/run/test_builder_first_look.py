"""The Builder's first look in a real run: the repo map in its first request leads with the file
the phase's words point to (BM25 fused with the reference graph, builder/repomap/fusion.py).

The demo calculator gains calc/messages.py, which nothing imports and whose name the phase never
says; only its words ("refusal", "messages") match the phase's text. The phase's scope covers
every code file, so the graph alone has no reason to start there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.fake_llm_wire import Reply

MESSAGES = '''"""How the calculator words a refusal, so every refused input reads the same."""


def refusal(operation: str, reason: str) -> str:
    return f"{operation} refused: {reason}"
'''

# The demo's Phase 1.1 (its scripted answer adds subtract() and its test), told in other words.
PLAN = """# Calculator

## Tier 1: Operations

### Phase 1.1: Add subtraction
category: feature
complexity: low
scope: calc/, tests/

Add a subtract operation with a unit test. When an input is refused, word the refusal the
way the calculator's other refusal messages are worded.
"""

MAP_HEADING = "Repository map (the definitions most relevant to this phase):"


pytestmark = pytest.mark.usefixtures("own_database")


def _first_map(requests: list[dict[str, Any]]) -> list[str]:
    """The files the first Builder request's map lists, in order."""
    for request in requests:
        for message in request.get("messages", []):
            content = message.get("content")
            if isinstance(content, str) and MAP_HEADING in content:
                text = content.split(MAP_HEADING, 1)[1]
                return re.findall(r"^(\S+\.py):$", text, re.M)
    raise AssertionError("no request carried a repository map")


def test_the_builders_first_map_leads_with_the_file_the_phase_text_points_to(
    tmp_path: Path,
) -> None:
    requests: list[dict[str, Any]] = []

    def script(api: str, request: dict[str, Any]) -> Any:
        requests.append(request)
        reply: Reply = demo_reply(api, request)
        return reply

    root = tmp_path / "calc"
    with fake_llm_server(script) as server:
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        (root / "calc" / "messages.py").write_text(MESSAGES, encoding="utf-8")
        subprocess.run(["git", "add", "-A"], cwd=root, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "messages"],
            cwd=root,
            check=True,
        )
        plan = root / "plan.md"
        plan.write_text(PLAN, encoding="utf-8")
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        end = execute_run(settings, create_run(settings, plan, options), options)
    assert end.state is RunState.DONE_SUCCESS
    listed = _first_map(requests)
    assert listed[0] == "calc/messages.py", listed
    assert "calc/ops.py" in listed
