"""The MCP resources: a run's RUN_SUMMARY.md, its frozen strategy, its incident packs, and a
project's issue backlog, read as the REST API reads them and seen by the same tokens."""

from __future__ import annotations

import json
import re
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from autopack.domain.plan import ID_PATTERN
from autopack.mcp_server.access import CallerOf, refusals
from autopack.run.artefacts import INCIDENTS_DIR, SUMMARY_FILE
from autopack.server import run_actions
from autopack.server.api_reports import visible_project
from autopack.server.context import ServerContext
from autopack.store.issue_records import load_backlog
from autopack.store.runs import RunRecord

INCIDENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
RUN_ID = re.compile(ID_PATTERN)
# An incident pack is a few small text files; a huge test log is cut, not sent whole.
MAX_FILE_CHARS = 200_000
JSON = "application/json"


def register_resources(server: MCPServer[Any], context: ServerContext, caller_of: CallerOf) -> None:
    def run(run_id: str) -> RunRecord:
        if not RUN_ID.match(run_id):
            raise ResourceError(f"not a run id: {run_id[:80]!r}")
        with refusals(ResourceError):
            return run_actions.record_of(context, run_id, caller_of().token)

    @server.resource(
        "autopack://runs/{run_id}/summary", name="run_summary", mime_type="text/markdown"
    )
    def summary(run_id: str) -> str:
        """RUN_SUMMARY.md, written at the run's end."""
        record = run(run_id)
        path = run_actions.settings_of_run(context, record).runs_dir / run_id / SUMMARY_FILE
        if not path.exists():
            raise ResourceError(
                f"run {run_id} is {record.state.value}; its summary comes at its end"
            )
        return path.read_text(encoding="utf-8")

    @server.resource("autopack://runs/{run_id}/strategy", name="run_strategy", mime_type=JSON)
    def strategy(run_id: str) -> str:
        """The strategy frozen at the run's start: tiers, phases, budgets, routing."""
        return run_actions.strategy_of(run(run_id)).model_dump_json(indent=2)

    @server.resource("autopack://runs/{run_id}/incidents", name="run_incidents", mime_type=JSON)
    def incidents(run_id: str) -> str:
        """The names of the run's incident packs (one per failed attempt)."""
        folder = run_actions.settings_of_run(context, run(run_id)).runs_dir / run_id / INCIDENTS_DIR
        names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return json.dumps(names)

    @server.resource(
        "autopack://runs/{run_id}/incidents/{name}", name="incident_pack", mime_type=JSON
    )
    def incident_pack(run_id: str, name: str) -> str:
        """One incident pack: its diff, test output, trajectory, ledger, findings and replay
        steps, file by file."""
        record = run(run_id)
        folder = run_actions.settings_of_run(context, record).runs_dir / run_id / INCIDENTS_DIR
        if not INCIDENT_NAME.match(name) or not (folder / name).is_dir():
            raise ResourceError(f"run {run_id} has no incident {name[:80]!r}")
        files = {
            str(path.relative_to(folder / name)): path.read_text(
                encoding="utf-8", errors="replace"
            )[:MAX_FILE_CHARS]
            for path in sorted((folder / name).rglob("*"))
            if path.is_file() and not path.is_symlink()
        }
        return json.dumps({"run_id": run_id, "name": name, "files": files}, indent=2)

    @server.resource(
        "autopack://projects/{project_id}/backlog", name="project_backlog", mime_type=JSON
    )
    def backlog(project_id: str) -> str:
        """Every issue_key the project's runs have seen, with its age and effective severity."""
        if not RUN_ID.match(project_id):
            raise ResourceError(f"not a project id: {project_id[:80]!r}")
        with refusals(ResourceError):
            visible = visible_project(context, caller_of().token, project_id)
            entries = load_backlog(context.database, visible)
        return json.dumps([e.model_dump(mode="json") for e in entries], indent=2)
