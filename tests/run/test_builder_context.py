"""A long Builder attempt in a real run keeps its conversation bounded (builder/context.py).

The demo's phase 1.1 is built by a scripted model that reads large files many times before it
edits. The requests the fake provider received show old observations stubbed, the task and the
repository map in every request, and the request prefix unchanged from step to step except where
a block of observations was elided; with a small context window the earlier steps are summarised
by the fast alias, a call billed to the attempt in the ledger, and the run still succeeds.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from autopack.builder.context import SUMMARY_INSTRUCTIONS, SUMMARY_MARK
from autopack.config import load_settings
from autopack.demo.developer import demo_reply, edits_for
from autopack.demo.project import PLAN, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Role
from autopack.llm.aliases import default_aliases
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_for_run
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

# The demo's phase 1.1, in a mode whose attempts may take 60 steps (20 without progress).
PHASE_1_1 = PLAN[: PLAN.index("### Phase 1.2")].replace(
    "complexity: low\n", "complexity: low\nbuilder_mode: scaffolding_heavy\n"
)
READS = 24
BIG_FILES = 6
SUMMARY_TOKENS = 777  # the summariser's reported input, to find its row in the ledger
STUB = "elided"


pytestmark = pytest.mark.usefixtures("own_database")


def _big_module(number: int) -> str:
    return "".join(
        f"def helper_{number}_{n}(value: int) -> int:\n"
        f'    """Helper {n} of module {number}: scales the value by {n}."""\n'
        f"    return value * {n} + {number}\n\n"
        for n in range(1, 60)
    )


class LongAttempt:
    """The scripted model: the Builder reads READS files (running a new command every eighth
    step, which counts as progress), edits, finishes; a summary request
    (no tools, the summariser's instructions) gets a summary; the Auditor is the demo's."""

    def __init__(self) -> None:
        self.builder_requests: list[dict[str, Any]] = []
        self.summary_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        tools = {tool["function"]["name"] for tool in request.get("tools", [])}
        if not tools and SUMMARY_INSTRUCTIONS in json.dumps(request):
            self.summary_requests.append(request)
            return Reply(text="Read helper modules; nothing edited yet.", input_tokens=777)
        if "read_file" not in tools:
            return demo_reply(api, request)
        with self._lock:
            self.builder_requests.append(request)
            step = len(self.builder_requests)
        if step <= READS and step % 8 == 0:
            command = {"command": f"echo checked {step}"}
            return Reply(tool_calls=(ToolCall(name="run_command", arguments=command),))
        if step <= READS:
            path = f"calc/big_{step % BIG_FILES}.py"
            return Reply(tool_calls=(ToolCall(name="read_file", arguments={"path": path}),))
        if step == READS + 1:
            return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": edits_for("1.1")}),))
        return Reply(
            tool_calls=(ToolCall(name="finish", arguments={"summary": "Subtract added."}),)
        )


def _run(
    root: Path, extra: str, context_window: int | None = None
) -> tuple[RunState, LongAttempt, list[Any]]:
    script = LongAttempt()
    with fake_llm_server(script) as server:
        aliases = aliases_on(server.openai_base_url)
        if context_window is not None:  # the Builder's alias for a low-complexity phase
            table = "[models.aliases.openai-standard]\n"
            aliases = aliases.replace(table, f"{table}context_window = {context_window}\n")
        create_project(root, extra_config=aliases + extra)
        for number in range(BIG_FILES):
            (root / f"calc/big_{number}.py").write_text(_big_module(number), encoding="utf-8")
        subprocess.run(["git", "add", "calc"], cwd=root, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "big"],
            cwd=root,
            check=True,
        )
        plan = root / "plan.md"
        plan.write_text(PHASE_1_1, encoding="utf-8")
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, plan, options)
        end = execute_run(settings, run_id, options)
    database = open_database(settings.database_url)
    try:
        rows = ledger_for_run(database, run_id)
    finally:
        database.close()
    return end.state, script, rows


def _tool_contents(request: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def _prefix_changes(requests: list[dict[str, Any]]) -> list[int]:
    """The steps (1-based) whose messages do not begin with all of the previous step's."""
    return [
        step
        for step, (before, after) in enumerate(itertools.pairwise(requests), 2)
        if after["messages"][: len(before["messages"])] != before["messages"]
    ]


def test_a_long_attempt_sends_old_observations_as_stubs_in_blocks(tmp_path: Path) -> None:
    rules = "\n[ruleset.builder_context]\nelide_after_steps = 4\nkeep_last_observations = 3\n"
    state, script, _ = _run(tmp_path / "calc", rules + "elide_block = 8\n")
    assert state is RunState.DONE_SUCCESS
    requests = script.builder_requests
    assert len(requests) == READS + 2
    assert not script.summary_requests  # the shipped 128k window is far away
    for request in requests:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        assert "# Phase 1.1: Add subtraction" in task
        assert "Repository map" in task
    # Observation i is 4 steps old at request i + 5: eight are due at request 13, 16 at 21.
    assert _prefix_changes(requests) == [13, 21]
    last = _tool_contents(requests[-1])
    reads = [n for n in range(READS) if n % 8 != 7]
    assert all(STUB in last[n] for n in reads if n < 16)
    assert not any(STUB in last[n] for n in reads if n >= 16)
    assert last[0].startswith("[read_file calc/big_1.py from line 1: elided, ")
    # Every call still has its answer: the provider accepted every request.
    calls = sum(len(m.get("tool_calls") or []) for m in requests[-1]["messages"])
    assert calls == len(last)


def test_near_a_small_window_the_earlier_steps_are_summarised_and_billed_to_the_attempt(
    tmp_path: Path,
) -> None:
    state, script, rows = _run(tmp_path / "calc", "", context_window=16_000)
    assert state is RunState.DONE_SUCCESS
    assert len(script.summary_requests) >= 1
    first_summary = next(
        step
        for step, request in enumerate(script.builder_requests, 1)
        if SUMMARY_MARK in json.dumps(request["messages"])
    )
    for request in script.builder_requests[first_summary - 1 :]:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        assert "# Phase 1.1: Add subtraction" in task
        assert "Repository map" in task
    # Sent after the summary: the task, the summary, and only the latest steps.
    after = script.builder_requests[first_summary - 1]
    assert len(_tool_contents(after)) < first_summary - 1
    summaries = [row for row in rows if row.input_tokens == SUMMARY_TOKENS]
    assert len(summaries) == len(script.summary_requests)
    for row in summaries:
        assert (row.role, row.phase_id, row.attempt) == (Role.BUILDER, "1.1", 1)
        assert row.model == default_aliases()["openai-fast"].model  # the fast alias
        assert row.outcome == "ok"
