"""Orchestration overhead per phase: wall time minus model time minus check-command time.

A 20-phase plan runs through the real pipeline against the fake OpenAI server (answers scripted,
served over real HTTP), once on SQLite and once on PostgreSQL (a throwaway Debian server), each
with DBOS on the same database. Model time is the ledger's summed call latency; check time is the
Verifier's summed command seconds. Prints ms per phase.

    .venv/bin/python bench/overhead.py [--phases 20]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import database_url_for, open_database
from autopack.store.ledger import ledger_for_run
from autopack.testing.fake_llm import Reply, ToolCall, fake_llm_server
from autopack.testing.postgres import postgres_unavailable_reason, running_postgres


def plan_text(phases: int) -> str:
    lines = ["# Overhead bench", "", "## Tier 1: Functions", ""]
    for number in range(1, phases + 1):
        lines += [
            f"### Phase 1.{number}: Add function f{number}",
            "category: feature",
            "complexity: low",
            f"scope: calc/f{number}.py",
            "",
            f"Create calc/f{number}.py with a function f{number}() returning {number}.",
            "",
        ]
    return "\n".join(lines)


def reply(api: str, request: dict[str, Any]) -> Reply:
    task = next(m["content"] for m in request["messages"] if m["role"] == "user")
    number = re.search(r"# Phase 1\.(\d+):", task)
    if number is None or any(m["role"] == "tool" for m in request["messages"]):
        return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))
    n = number.group(1)
    edit = {
        "op": "create",
        "path": f"calc/f{n}.py",
        "content": f"def f{n}() -> int:\n    return {n}\n",
    }
    return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": [edit]}),))


def measure(phases: int, database_url: str | None) -> dict[str, float]:
    if database_url:
        os.environ["AUTOPACK_DATABASE_URL"] = database_url
    else:
        os.environ.pop("AUTOPACK_DATABASE_URL", None)
    os.environ["OPENAI_API_KEY"] = "test-key"
    check_seconds = 0.0

    def listen(event: dict[str, Any]) -> None:
        nonlocal check_seconds
        if event["kind"] == "verified":
            check_seconds += float(event["seconds"])

    with tempfile.TemporaryDirectory() as folder, fake_llm_server(reply) as server:
        root = Path(folder) / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        plan.write_text(plan_text(phases), encoding="utf-8")
        settings = load_settings(root)
        started = time.perf_counter()
        run_id = create_run(settings, plan, RunOptions())
        end = execute_run(settings, run_id, RunOptions(), listen)
        wall = time.perf_counter() - started
        database = open_database(database_url_for(root, os.environ))
        model_seconds = sum(call.latency_ms for call in ledger_for_run(database, run_id)) / 1000
        database.close()
    overhead = wall - model_seconds - check_seconds
    return {
        "state": end.state.value,  # type: ignore[dict-item]
        "wall_s": wall,
        "model_s": model_seconds,
        "checks_s": check_seconds,
        "overhead_ms_per_phase": overhead * 1000 / phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, default=20)
    phases = parser.parse_args().phases
    figures = {"sqlite": measure(phases, None)}
    reason = postgres_unavailable_reason()
    if reason is None:
        with running_postgres() as server:
            figures["postgresql"] = measure(phases, server.create_database())
    else:
        print(f"postgresql: skipped ({reason})")
    for name, result in figures.items():
        print(
            f"{name}: {result['state']}, {phases} phases, wall {result['wall_s']:.1f} s, "
            f"model {result['model_s']:.1f} s, checks {result['checks_s']:.1f} s -> "
            f"orchestration overhead {result['overhead_ms_per_phase']:.0f} ms/phase"
        )


if __name__ == "__main__":
    main()
