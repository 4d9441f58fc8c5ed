"""An MCP client as Autopack's Builder: it claims a `builder: remote` attempt through the MCP
tools over streamable HTTP, builds in its own clone and submits; the run lands it."""

from __future__ import annotations

import subprocess
import time
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import anyio

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.vocabulary import TokenScope
from autopack.mcp_server.transports import MCP_PATH, http_app, worker_running
from autopack.server.app import server_options
from autopack.server.context import ServerContext
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_for_run
from autopack.store.tokens import create_token
from autopack.testing.fake_llm import FakeLLMServer
from autopack.testing.git_repos import git
from autopack.testing.http_server import serving
from autopack.testing.mcp_calls import call, open_session, refused, watch_to_end

PLAN = """# Remote

## Tier 1: Operations

### Phase 1.1: Add subtraction to calc/ops.py
category: feature
complexity: low
builder: remote
scope: calc/ops.py
acceptance: the unit tests pass

Add `subtract(a, b)` to calc/ops.py.
"""
HOSTILE = "--- a/autopack.toml\n+++ b/autopack.toml\n@@ -1 +1 @@\n-[project]\n+[nope]\n"


def _build(task: dict[str, str], clone: Path) -> str:
    subprocess.run(["git", "clone", "-q", task["repository"], str(clone)], check=True)
    git(clone, "checkout", "-q", task["base_commit"])
    with (clone / "calc" / "ops.py").open("a", encoding="utf-8") as ops:
        ops.write("\n\ndef subtract(a: float, b: float) -> float:\n    return a - b\n")
    return git(clone, "diff", "--binary")


def test_an_mcp_client_builds_a_remote_phase(tmp_path: Path, llm: FakeLLMServer) -> None:
    root = tmp_path / "calc"
    create_project(root, extra_config=aliases_on(llm.openai_base_url))
    settings = load_settings(root)
    database = open_database(settings.database_url)
    writer, _ = create_token(database, "agent", TokenScope.WRITE)
    reader, _ = create_token(database, "viewer", TokenScope.READ)
    context = ServerContext(settings=settings, database=database)

    async def drive(url: str) -> None:
        async with AsyncExitStack() as stack:
            agent = await open_session(stack, url, writer)
            run_id = (await call(agent, "start_run", plan_text=PLAN))["run_id"]
            looking = await open_session(stack, url, reader)
            claimed: dict[str, object] = {}
            deadline = time.monotonic() + 60
            while not claimed and time.monotonic() < deadline:
                offers = (await call(looking, "list_offers", run_id=run_id))["result"]
                if offers:
                    # A read token sees the offer but may not take it.
                    assert "may only read" in await refused(
                        looking, "claim_attempt", builder="viewer"
                    )
                result = await agent.call_tool(
                    "claim_attempt", {"builder": "mcp-agent", "run_id": run_id}
                )
                assert not result.is_error, result.content
                claimed = dict(result.structured_content or {}).get("result") or {}
                await anyio.sleep(0.2)
            task = claimed["task"]
            assert isinstance(task, dict)
            offer_id = claimed["offer"]["offer_id"]  # type: ignore[index]
            lease = claimed["lease_token"]
            patch = _build(task, tmp_path / "clone")
            hostile = await refused(
                agent, "submit_patch", offer_id=offer_id, lease_token=lease, patch=HOSTILE
            )
            assert "path.protected" in hostile
            await call(agent, "renew_lease", offer_id=offer_id, lease_token=lease)
            usage = {"input_tokens": 900, "output_tokens": 100, "cost_usd": "0.02"}
            submitted = await call(
                agent,
                "submit_patch",
                offer_id=offer_id,
                lease_token=lease,
                patch=patch,
                summary="subtract added",
                usage=usage,
            )
            assert submitted["status"] == "submitted"
            again = await refused(
                agent, "submit_patch", offer_id=offer_id, lease_token=lease, patch=patch
            )
            assert "offer.submitted" in again
            events = await watch_to_end(agent, run_id)
            assert events[-1]["state"] == "DONE_SUCCESS", events[-1]
            ops = git(root, "show", f"autopack/{run_id}:calc/ops.py")
            assert "def subtract" in ops
            remote = [c for c in ledger_for_run(database, run_id) if c.provider == "remote"]
            assert [(c.model, c.usd) for c in remote] == [("mcp-agent", Decimal("0.02"))]

    try:
        with (
            worker_running(context, True),
            serving(http_app(context), **server_options(settings)) as base,
        ):
            anyio.run(drive, base + MCP_PATH)
    finally:
        database.close()
