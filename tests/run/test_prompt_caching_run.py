"""A real run on Anthropic-routed aliases with prompt caching on (the default): the Builder's
multi-step attempt reads its growing conversation from the provider's cache, and the ledger's
tokens and USD are exactly what the (fake) provider bills, caching included."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from autopack.config import load_settings
from autopack.demo.developer import edits_for
from autopack.demo.project import PLAN, create_project
from autopack.domain.states import RunState
from autopack.domain.vocabulary import Role
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_for_run
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server

PHASE_1_1 = "# Calculator\n\n" + PLAN[PLAN.index("## Tier 1") : PLAN.index("### Phase 1.2")]
ROUTING = '[routing]\ntop = "anthropic-standard"\nstandard = "anthropic-standard"\nfast = "anthropic-fast"\n'
READS = ("calc/__init__.py", "calc/ops.py", "README.md", "tests/test_add.py")


pytestmark = pytest.mark.usefixtures("own_database")


def _tool_results(request: dict[str, Any]) -> int:
    return sum(
        1
        for message in request.get("messages", [])
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    )


def _phase(request: dict[str, Any]) -> str:
    for message in request.get("messages", []):
        content = message.get("content")
        blocks = [{"text": content}] if isinstance(content, str) else content
        for block in blocks:
            if match := re.search(r"^# Phase (\S+):", str(block.get("text", "")), re.M):
                return match.group(1)
    raise AssertionError("a Builder request names its phase")


def developer(api: str, request: dict[str, Any]) -> Reply:
    """A Builder that reads four files, edits, and finishes; an Auditor that approves."""
    if any(tool.get("name") == "report" for tool in request.get("tools", [])):
        summary = {"summary": "The change does what the phase asks.", "findings": []}
        return Reply(tool_calls=(ToolCall(name="report", arguments=summary),), output_tokens=60)
    step, phase = _tool_results(request), _phase(request)
    if step < len(READS):
        call = ToolCall(name="read_file", arguments={"path": READS[step]})
    elif step == len(READS):
        call = ToolCall(name="edit", arguments={"edits": edits_for(phase)})
    else:
        call = ToolCall(name="finish", arguments={"summary": f"Phase {phase} done as planned."})
    return Reply(tool_calls=(call,), output_tokens=120)


def test_a_builder_attempt_reads_its_conversation_from_the_cache_and_is_billed_exactly(
    tmp_path: Path,
) -> None:
    root = tmp_path / "calc"
    with fake_llm_server(developer, usage_from_request=True) as server:
        aliases = "".join(
            f'\n[models.aliases.{name}]\nbase_url = "{server.anthropic_base_url}"\n'
            for name in ("anthropic-standard", "anthropic-fast")
        )
        create_project(root, extra_config=aliases)
        config = root / "autopack.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r"\[routing\]\n(.+\n){3}", ROUTING, text), encoding="utf-8")
        (root / "plan.md").write_text(PHASE_1_1, encoding="utf-8")
        # Committed, as a project's configuration is.
        for args in (["add", "--all"], ["commit", "-q", "-m", "Anthropic routing"]):
            subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                cwd=root,
                check=True,
            )
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, root / "plan.md", options)
        end = execute_run(settings, run_id, options)
        requests = list(server.requests)
        billed_usd = server.billed_usd(settings.aliases)
        bills = list(server.bills)
    assert end.state is RunState.DONE_SUCCESS, end.message
    database = open_database(settings.database_url)
    try:
        rows = ledger_for_run(database, run_id)
    finally:
        database.close()
    builder = [row for row in rows if row.role is Role.BUILDER and row.phase_id == "1.1"]
    assert len(builder) == len(READS) + 2
    assert {row.model for row in builder} == {"claude-sonnet-5-5"}
    assert builder[0].cache_write_tokens > 0
    assert all(row.cached_input_tokens > 0 for row in builder[1:])
    # Each later step reads all but its newest turns from the cache.
    assert all(row.cached_input_tokens > row.input_tokens * 0.8 for row in builder[2:])
    builder_requests = [r for r in requests if r.get("model") == "claude-sonnet-5-5"]
    assert all(r.get("cache_control") for r in builder_requests)
    assert sum(row.usd for row in rows) == billed_usd
    assert sum(row.input_tokens for row in rows) == sum(bill.input_tokens for bill in bills)
    assert sum(row.cached_input_tokens for row in rows) == sum(b.cached_input_tokens for b in bills)
    assert sum(row.cache_write_tokens for row in rows) == sum(b.cache_write_tokens for b in bills)
