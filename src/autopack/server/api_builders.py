"""/builders: remote Builders claim offered attempts under a lease, renew it, and submit a patch.

A phase whose builder is `remote` offers each attempt (builder/remote.py). Claiming and submitting
act on a run, so they want a write token, limited to the run's project if the token is limited;
the lease token a claim returns is the only proof of holding the attempt.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from autopack.builder.remote import check_submission
from autopack.domain.plan import ID_PATTERN
from autopack.errors import NotFound, PatchFormatError, PolicyViolation
from autopack.server.auth import Reader, Writer
from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.engine import Database
from autopack.store.remote_offers import (
    Offer,
    OfferRefused,
    OfferStatus,
    ReportedUsage,
    Submission,
    claim_next_offer,
    claim_offer,
    get_offer,
    open_offers,
    renew_lease,
    submit_offer,
)
from autopack.store.tokens import TokenInfo

router = APIRouter(prefix="/builders", tags=["remote builders"])

OfferId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$", description="An offer's id")]
BUILDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferView(BaseModel):
    offer_id: str
    project_id: str
    run_id: str
    phase_id: str
    attempt: int
    status: OfferStatus
    base_commit: str
    claims: int
    claimed_by: str | None
    lease_expires_at: datetime | None
    allowance_tokens: int
    allowance_usd: Decimal
    offered_at: datetime
    submitted_at: datetime | None


class Claim(_Body):
    builder: str = Field(pattern=BUILDER_NAME, description="Who claims: shown in the run's ledger")


class NextClaim(Claim):
    run_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Only this run's")


class Claimed(BaseModel):
    offer: OfferView
    lease_token: str = Field(description="Send it with every renewal and the submission")
    lease_seconds: int
    task: dict[str, Any]


class Lease(_Body):
    lease_token: str = Field(min_length=1, max_length=200)


class SubmitPatch(Lease):
    patch: str = Field(
        min_length=1,
        max_length=5_000_000,
        description="Against base_commit: a unified diff, SEARCH/REPLACE blocks or a "
        "'*** Begin Patch' envelope",
    )
    summary: str = Field(default="", max_length=20_000)
    usage: ReportedUsage = ReportedUsage()


def view(offer: Offer) -> OfferView:
    return OfferView.model_validate(offer.model_dump())


def offer_seen_by(database: Database, caller: TokenInfo, offer_id: str) -> Offer:
    """The offer, if the caller's token may see its project; else NotFound, as if it did not
    exist."""
    offer = get_offer(database, offer_id)
    if not caller.sees(offer.project_id):
        raise NotFound(f"no offer {offer.offer_id!r}")
    return offer


def _refused(refusal: OfferRefused) -> Problem:
    return Problem(409, "Conflict", str(refusal), rule=refusal.rule)


def claimed_view(offer: Offer, token: str) -> Claimed:
    return Claimed(
        offer=view(offer), lease_token=token, lease_seconds=offer.lease_seconds, task=offer.task
    )


@router.get("/offers", response_model=list[OfferView])
def list_offers(
    request: Request,
    caller: Reader,
    run_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[OfferView]:
    """The attempts a Builder could claim now, oldest first."""
    offers = open_offers(
        context_of(request).database,
        run_ids=None if run_id is None else [run_id],
        project_ids=caller.projects,
    )
    return [view(offer) for offer in offers]


@router.get("/offers/{offer_id}", response_model=OfferView)
def read_offer(offer_id: OfferId, request: Request, caller: Reader) -> OfferView:
    return view(offer_seen_by(context_of(request).database, caller, offer_id))


@router.post("/offers/{offer_id}/claim", response_model=Claimed)
def claim(offer_id: OfferId, body: Claim, request: Request, caller: Writer) -> Claimed:
    """Take the attempt under a lease; 409 while another holder's lease is live."""
    database = context_of(request).database
    offer_seen_by(database, caller, offer_id)
    try:
        offer, token = claim_offer(database, offer_id, body.builder)
    except OfferRefused as refusal:
        raise _refused(refusal) from None
    return claimed_view(offer, token)


@router.post(
    "/claims", response_model=Claimed, responses={204: {"description": "Nothing to claim"}}
)
async def claim_next(body: NextClaim, request: Request, caller: Writer) -> Claimed | Response:
    """Claim the oldest attempt on offer (of one run, if given); 204 when there is none."""
    database = context_of(request).database

    claimed = await run_in_threadpool(
        claim_next_offer,
        database,
        body.builder,
        run_ids=None if body.run_id is None else [body.run_id],
        project_ids=caller.projects,
    )
    return Response(status_code=204) if claimed is None else claimed_view(*claimed)


@router.post("/offers/{offer_id}/heartbeat", response_model=OfferView)
def heartbeat(offer_id: OfferId, body: Lease, request: Request, caller: Writer) -> OfferView:
    """Still at work: the lease runs its full length again from now."""
    database = context_of(request).database
    offer_seen_by(database, caller, offer_id)
    try:
        return view(renew_lease(database, offer_id, body.lease_token))
    except OfferRefused as refusal:
        raise _refused(refusal) from None


@router.post("/offers/{offer_id}/submission", response_model=OfferView, status_code=202)
def submit(offer_id: OfferId, body: SubmitPatch, request: Request, caller: Writer) -> OfferView:
    """The holder's one submission. 422 names the rule when the patch is refused (the lease
    stays, to submit a corrected one); 409 when the lease expired or the attempt was submitted."""
    database = context_of(request).database
    offer_seen_by(database, caller, offer_id)
    submission = Submission(patch=body.patch, summary=body.summary, usage=body.usage)
    try:
        offer = submit_offer(database, offer_id, body.lease_token, submission, check_submission)
    except OfferRefused as refusal:
        raise _refused(refusal) from None
    except PolicyViolation as violation:
        raise Problem(422, "Invalid input", str(violation), rule=violation.rule) from None
    except PatchFormatError as error:
        raise Problem(422, "Invalid input", str(error), rule="patch.format") from None
    return view(offer)
