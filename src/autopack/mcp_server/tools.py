"""The MCP tools: start, list, read, watch, cancel, resume, approve and promote runs.

Each tool calls what the REST API's handler calls (server/run_actions.py and the core functions
behind it) and answers JSON. Reading tools want any caller; acting ones a caller who may act
(over HTTP, a write token). More tools register the same way: a function taking the server,
the context and how to find the caller, called from register_tools.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from autopack.config import PROJECT_ID_PATTERN
from autopack.domain.plan import ID_PATTERN
from autopack.domain.states import RunState
from autopack.issues.run_issue_index import RunIssueIndex
from autopack.mcp_server.access import ACTS, READS, CallerOf, refusals
from autopack.mcp_server.builder_tools import register_builder_tools
from autopack.mcp_server.progress import Progress, read_progress
from autopack.run.cancel import cancel_run
from autopack.server import run_actions
from autopack.server.context import ServerContext
from autopack.store.chains import RunChain
from autopack.store.reports import RunListing, list_run_listings, run_listing
from autopack.store.run_status import run_status
from autopack.store.runs import PhaseRecord, TierRecord, get_run

RunIdArg = Annotated[str, Field(pattern=ID_PATTERN, description="A run id, as list_runs shows.")]
ProjectArg = Annotated[
    str | None,
    Field(pattern=PROJECT_ID_PATTERN, description="A registered project's id; default: the own"),
]
MAX_WAIT_SECONDS = 30.0


class RunStarted(BaseModel):
    run_id: str
    state: RunState
    queued: bool


class RunPage(BaseModel):
    runs: list[RunListing]
    total: int


class RunStatusView(BaseModel):
    run: RunListing
    base_branch: str | None
    base_commit: str | None
    tiers: list[TierRecord]
    chain: RunChain | None = None


class Promoted(BaseModel):
    run_id: str
    into: str
    head: str


def register_tools(server: MCPServer[Any], context: ServerContext, caller_of: CallerOf) -> None:
    register_run_tools(server, context, caller_of)
    register_acting_tools(server, context, caller_of)
    register_builder_tools(server, context, caller_of)


def register_run_tools(server: MCPServer[Any], context: ServerContext, caller_of: CallerOf) -> None:
    database = context.database

    @server.tool(name="list_runs", annotations=READS)
    def list_runs(
        project: ProjectArg = None,
        states: Annotated[
            list[RunState] | None, Field(description="Only runs in these states")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0,
    ) -> RunPage:
        """Runs newest first, with state, failure, spend and progress counts."""
        caller = caller_of()
        runs, total = list_run_listings(
            database,
            project_id=project,
            run_ids=run_actions.visible_run_ids(context, caller.token, project),
            states=states or (),
            limit=limit,
            offset=offset,
        )
        return RunPage(runs=runs, total=total)

    @server.tool(name="run_status", annotations=READS)
    def status(run_id: RunIdArg) -> RunStatusView:
        """One run: its state (DONE_SUCCESS, DONE_FAILED_…), failure, spend, tiers and phases."""
        caller = caller_of()
        with refusals():
            status = run_status(database, run_id)
            record = run_actions.seen_by(caller.token, status.record)
        return RunStatusView(
            run=status.listing,
            base_branch=record.base_branch,
            base_commit=record.base_commit,
            tiers=record.tiers,
            chain=status.chain,
        )

    @server.tool(name="run_issues", annotations=READS)
    def issues(run_id: RunIdArg) -> RunIssueIndex:
        """The run's issues by issue_key: severity, category, state and where each was seen."""
        caller = caller_of()
        with refusals():
            return run_actions.issue_index(
                context, run_actions.record_of(context, run_id, caller.token)
            )

    @server.tool(name="run_progress", annotations=READS)
    def progress(
        run_id: RunIdArg,
        after: Annotated[int, Field(ge=0, le=10**18 - 1, description="Last event id seen")] = 0,
        wait_seconds: Annotated[
            float,
            Field(ge=0, le=MAX_WAIT_SECONDS, description="Wait this long for a first new event"),
        ] = 0,
        limit: Annotated[int, Field(ge=1, le=500)] = 200,
    ) -> Progress:
        """The run's progress events after an event id (0: from the start), as the CLI's live
        view and the API's event stream show them. Call again with last_event_id to watch."""
        caller = caller_of()
        with refusals():
            run_actions.record_of(context, run_id, caller.token)
        return read_progress(database, run_id, after, wait_seconds, limit)


def register_acting_tools(
    server: MCPServer[Any], context: ServerContext, caller_of: CallerOf
) -> None:
    database = context.database

    @server.tool(name="start_run", annotations=ACTS)
    def start(
        plan: Annotated[
            str | None,
            Field(min_length=1, max_length=500, description="A plan file's path in the project"),
        ] = None,
        plan_text: Annotated[
            str | None,
            Field(min_length=1, max_length=500_000, description="Or the plan itself (Markdown)"),
        ] = None,
        project: ProjectArg = None,
        llm: Annotated[
            str | None,
            Field(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="One model alias for all"),
        ] = None,
        no_sandbox: bool = False,
    ) -> RunStarted:
        """Start a run from a plan file or the plan's text: its strategy is frozen now and the
        run is queued for a worker. Watch it with run_progress."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            run_id = run_actions.start_run(
                context,
                caller.token,
                project=project,
                plan=plan,
                plan_text=plan_text,
                llm=llm,
                no_sandbox=no_sandbox,
            )
        return RunStarted(run_id=run_id, state=get_run(database, run_id).state, queued=True)

    @server.tool(name="cancel_run", annotations=ACTS)
    def cancel(
        run_id: RunIdArg,
        reason: Annotated[str, Field(min_length=1, max_length=500)] = "cancelled over MCP",
    ) -> RunListing:
        """End the run with a reason: now if no executor has it, else before its next attempt."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            record = run_actions.record_of(context, run_id, caller.token)
            settings = run_actions.settings_of_run(context, record)
            cancel_run(settings, database, run_id, f"{reason} (by {caller.actor})")
        return _listing(context, run_id)

    @server.tool(name="resume_run", annotations=ACTS)
    def resume(run_id: RunIdArg) -> RunListing:
        """Queue a run whose executor died or was interrupted, to carry on from its checkpoint."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            run_actions.resume_run(context, run_actions.record_of(context, run_id, caller.token))
        return _listing(context, run_id)

    @server.tool(name="approve_phase", annotations=ACTS)
    def approve(
        run_id: RunIdArg,
        phase_id: Annotated[str, Field(pattern=ID_PATTERN)],
    ) -> PhaseRecord:
        """Approve a committed phase with auto_apply = false for promotion (recorded with who)."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            record = run_actions.record_of(context, run_id, caller.token)
            return run_actions.approve(context, record, phase_id, by=caller.actor)

    @server.tool(name="promote_run", annotations=ACTS)
    def promote(
        run_id: RunIdArg,
        into: Annotated[
            str | None,
            Field(
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$",
                description="Target branch; default: the branch the run started from",
            ),
        ] = None,
    ) -> Promoted:
        """Merge a finished run's integration branch, if it is eligible (DONE_SUCCESS, every tier
        clean, no budget cap hit, high-risk phases approved); else every reason is given."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            record = run_actions.record_of(context, run_id, caller.token)
            target, head = run_actions.promote(context, record, into)
        return Promoted(run_id=run_id, into=target, head=head)


def _listing(context: ServerContext, run_id: str) -> RunListing:
    listing = run_listing(context.database, run_id)
    assert listing is not None  # the caller found the run a moment ago
    return listing
