"""The MCP tools of a remote Builder: list the attempts on offer, claim one under a lease, renew the
lease, submit the patch with what was spent — the REST API's /builders (server/api_builders.py)
over the same store functions, so any MCP-speaking agent can build a phase whose builder is
`remote`. Claiming, renewing and submitting act: over HTTP they want a write token."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from autopack.builder.remote import check_submission
from autopack.domain.plan import ID_PATTERN
from autopack.mcp_server.access import ACTS, READS, CallerOf, refusals
from autopack.server.api_builders import (
    BUILDER_NAME,
    Claimed,
    OfferView,
    claimed_view,
    offer_seen_by,
    view,
)
from autopack.server.context import ServerContext
from autopack.store.remote_offers import (
    ReportedUsage,
    Submission,
    claim_next_offer,
    claim_offer,
    open_offers,
    renew_lease,
    submit_offer,
)

OfferIdArg = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$", description="An offer's id")]
LeaseArg = Annotated[str, Field(min_length=1, max_length=200, description="From the claim")]


def register_builder_tools(
    server: MCPServer[Any], context: ServerContext, caller_of: CallerOf
) -> None:
    database = context.database

    @server.tool(name="list_offers", annotations=READS)
    def offers(
        run_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = None,
    ) -> list[OfferView]:
        """Attempts of `builder: remote` phases that a Builder could claim now, oldest first."""
        caller = caller_of()
        run_ids = None if run_id is None else [run_id]
        return [
            view(offer)
            for offer in open_offers(database, run_ids=run_ids, project_ids=caller.token.projects)
        ]

    @server.tool(name="claim_attempt", annotations=ACTS)
    def claim(
        builder: Annotated[str, Field(pattern=BUILDER_NAME, description="Who claims")],
        offer_id: OfferIdArg | None = None,
        run_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = None,
    ) -> Claimed | None:
        """Claim an attempt under a lease: the offer named, else the oldest on offer (of the run,
        if named); null when there is none. The answer holds the task (the prompt, repo map,
        repository and base commit to check out, the allowance) and the lease token."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            if offer_id is not None:
                offer_seen_by(database, caller.token, offer_id)
                return claimed_view(*claim_offer(database, offer_id, builder))
            taken = claim_next_offer(
                database,
                builder,
                run_ids=None if run_id is None else [run_id],
                project_ids=caller.token.projects,
            )
        return None if taken is None else claimed_view(*taken)

    @server.tool(name="renew_lease", annotations=ACTS)
    def renew(offer_id: OfferIdArg, lease_token: LeaseArg) -> OfferView:
        """Still at work: the lease runs its full length again from now."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            offer_seen_by(database, caller.token, offer_id)
            return view(renew_lease(database, offer_id, lease_token))

    @server.tool(name="submit_patch", annotations=ACTS)
    def submit(
        offer_id: OfferIdArg,
        lease_token: LeaseArg,
        patch: Annotated[
            str,
            Field(
                min_length=1,
                max_length=5_000_000,
                description="Against the base commit: a unified diff (git diff --binary), "
                "SEARCH/REPLACE blocks or a '*** Begin Patch' envelope",
            ),
        ],
        summary: Annotated[str, Field(max_length=20_000)] = "",
        usage: ReportedUsage | None = None,
    ) -> OfferView:
        """The attempt's one submission, with the tokens and USD it cost. A patch the write policy
        refuses is refused now, by its rule, and the lease stays for a corrected one."""
        caller = caller_of()
        with refusals():
            caller.may_act()
            offer_seen_by(database, caller.token, offer_id)
            submission = Submission(patch=patch, summary=summary, usage=usage or ReportedUsage())
            return view(submit_offer(database, offer_id, lease_token, submission, check_submission))
