"""Attempts offered to remote Builders: offered, claimed under a lease, submitted once.

The run's own process offers an attempt and waits for its submission; any process on the same
database (the API server, the MCP server) hands it out. Every change is a compare-and-set in one
write transaction, so of two claimants exactly one holds a lease, and of two submissions exactly
one is taken. A lease that was not renewed in time is gone: the attempt is offered again and the
old holder's submission refused. The lease token is a bearer secret, kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from autopack.errors import AutopackError, NotFound
from autopack.store.engine import Database
from autopack.store.schema import RemoteOfferRow, utc_now


class OfferStatus(StrEnum):
    OFFERED = "offered"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    # The run stopped waiting (no claim in time, the attempt's wall clock, a cancel).
    WITHDRAWN = "withdrawn"


class OfferRefused(AutopackError):
    """A claim, renewal or submission the offer's state refuses, with the rule that refused it."""

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(f"{message} (rule {rule})")


class ReportedUsage(BaseModel):
    """What a remote Builder says it spent; counted against the attempt as it reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0, le=10**12)
    cached_input_tokens: int = Field(default=0, ge=0, le=10**12)
    output_tokens: int = Field(default=0, ge=0, le=10**12)
    cache_write_tokens: int = Field(default=0, ge=0, le=10**12)
    requests: int = Field(default=0, ge=0, le=10**9)
    # What the agent's provider billed; None = priced at the Builder alias's rates.
    cost_usd: Decimal | None = Field(default=None, ge=0, le=Decimal("1e9"))


class Submission(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    patch: str
    summary: str = ""
    usage: ReportedUsage = ReportedUsage()


class Offer(BaseModel):
    model_config = ConfigDict(frozen=True)

    offer_id: str
    project_id: str
    run_id: str
    phase_id: str
    attempt: int
    status: OfferStatus
    base_commit: str
    task: dict[str, Any]
    policy: dict[str, Any]
    allowance_tokens: int
    allowance_usd: Decimal
    lease_seconds: int
    claims: int
    claimed_by: str | None
    lease_expires_at: datetime | None
    submission: Submission | None
    offered_at: datetime
    submitted_at: datetime | None

    def claimable(self, now: datetime) -> bool:
        if self.status is OfferStatus.OFFERED:
            return True
        expires = self.lease_expires_at
        return self.status is OfferStatus.CLAIMED and expires is not None and expires <= now


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _offer(row: RemoteOfferRow) -> Offer:
    submission = row.submission_json
    return Offer(
        offer_id=row.offer_id,
        project_id=row.project_id,
        run_id=row.run_id,
        phase_id=row.phase_id,
        attempt=row.attempt,
        status=OfferStatus(row.status),
        base_commit=row.base_commit,
        task=json.loads(row.task_json),
        policy=json.loads(row.policy_json),
        allowance_tokens=row.allowance_tokens,
        allowance_usd=row.allowance_usd,
        lease_seconds=row.lease_seconds,
        claims=row.claims,
        claimed_by=row.claimed_by,
        lease_expires_at=_aware(row.lease_expires_at),
        submission=Submission.model_validate_json(submission) if submission else None,
        offered_at=_aware(row.offered_at) or utc_now(),
        submitted_at=_aware(row.submitted_at),
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def offer_attempt(
    database: Database,
    *,
    project_id: str,
    run_id: str,
    phase_id: str,
    attempt: int,
    base_commit: str,
    task: dict[str, Any],
    policy: dict[str, Any],
    allowance_tokens: int,
    allowance_usd: Decimal,
    lease_seconds: int,
) -> Offer:
    """Offer the attempt, or the offer already made for it (a resumed run waits on the same one).

    One withdrawn by a process that stopped waiting is offered again, its submission kept."""
    with database.transaction() as session:
        row = session.scalar(
            select(RemoteOfferRow)
            .where(
                RemoteOfferRow.run_id == run_id,
                RemoteOfferRow.phase_id == phase_id,
                RemoteOfferRow.attempt == attempt,
            )
            .with_for_update()
        )
        if row is None:
            row = RemoteOfferRow(
                offer_id=secrets.token_hex(8),
                project_id=project_id,
                run_id=run_id,
                phase_id=phase_id,
                attempt=attempt,
                status=OfferStatus.OFFERED.value,
                base_commit=base_commit,
                task_json=json.dumps(task),
                policy_json=json.dumps(policy),
                allowance_tokens=allowance_tokens,
                allowance_usd=allowance_usd,
                lease_seconds=lease_seconds,
                claims=0,
                offered_at=utc_now(),
            )
            session.add(row)
        elif row.status == OfferStatus.WITHDRAWN.value:
            row.status = (
                OfferStatus.SUBMITTED.value if row.submission_json else OfferStatus.OFFERED.value
            )
            row.claimed_by, row.lease_sha256, row.lease_expires_at = None, None, None
        session.flush()
        return _offer(row)


def offer_of_attempt(database: Database, run_id: str, phase_id: str, attempt: int) -> Offer | None:
    with database.reading() as session:
        row = session.scalar(
            select(RemoteOfferRow).where(
                RemoteOfferRow.run_id == run_id,
                RemoteOfferRow.phase_id == phase_id,
                RemoteOfferRow.attempt == attempt,
            )
        )
        return None if row is None else _offer(row)


def get_offer(database: Database, offer_id: str) -> Offer:
    with database.reading() as session:
        row = session.get(RemoteOfferRow, offer_id)
        if row is None:
            raise NotFound(f"no offer {offer_id!r}")
        return _offer(row)


def open_offers(
    database: Database,
    *,
    run_ids: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
) -> list[Offer]:
    """Offers a Builder could claim now, oldest first, of those runs and projects if given."""
    now = utc_now()
    with database.reading() as session:
        query = select(RemoteOfferRow).where(
            RemoteOfferRow.status.in_([OfferStatus.OFFERED.value, OfferStatus.CLAIMED.value])
        )
        if run_ids is not None:
            query = query.where(RemoteOfferRow.run_id.in_(list(run_ids)))
        if project_ids is not None:
            query = query.where(RemoteOfferRow.project_id.in_(list(project_ids)))
        offers = [_offer(row) for row in session.scalars(query.order_by(RemoteOfferRow.offered_at))]
    return [offer for offer in offers if offer.claimable(now)]


def _locked(session: Any, offer_id: str) -> RemoteOfferRow:
    row: RemoteOfferRow | None = session.get(RemoteOfferRow, offer_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no offer {offer_id!r}")
    return row


def _refuse_unless_open(row: RemoteOfferRow) -> None:
    if row.status == OfferStatus.SUBMITTED.value:
        raise OfferRefused("offer.submitted", f"attempt {row.attempt} was already submitted")
    if row.status == OfferStatus.WITHDRAWN.value:
        raise OfferRefused("offer.withdrawn", "the run no longer waits for this attempt")


def _refuse_if_held(row: RemoteOfferRow, now: datetime) -> None:
    expires = _aware(row.lease_expires_at)
    if row.status == OfferStatus.CLAIMED.value and expires is not None and expires > now:
        raise OfferRefused(
            "lease.held", f"{row.claimed_by} holds this attempt until {expires.isoformat()}"
        )


def claim_offer(database: Database, offer_id: str, claimant: str) -> tuple[Offer, str]:
    """Take the attempt under a new lease: the offer and the lease token (shown only here)."""
    with database.transaction() as session:
        row = _locked(session, offer_id)
        _refuse_unless_open(row)
        now = utc_now()
        _refuse_if_held(row, now)
        token = secrets.token_urlsafe(24)
        row.status = OfferStatus.CLAIMED.value
        row.claimed_by = claimant
        row.claims += 1
        row.lease_sha256 = _digest(token)
        row.lease_expires_at = now + timedelta(seconds=row.lease_seconds)
        session.flush()
        return _offer(row), token


def claim_next_offer(
    database: Database,
    claimant: str,
    *,
    run_ids: Sequence[str] | None = None,
    project_ids: Sequence[str] | None = None,
) -> tuple[Offer, str] | None:
    """Claim the oldest offer open to the caller; None when there is none left to take."""
    for offer in open_offers(database, run_ids=run_ids, project_ids=project_ids):
        try:
            return claim_offer(database, offer.offer_id, claimant)
        except OfferRefused:
            continue  # another claimant was first: try the next
    return None


def _check_lease(row: RemoteOfferRow, token: str, now: datetime) -> None:
    _refuse_unless_open(row)
    held = row.lease_sha256 is not None and secrets.compare_digest(row.lease_sha256, _digest(token))
    if row.status != OfferStatus.CLAIMED.value or not held:
        raise OfferRefused("lease.unknown", "this lease is not the attempt's current one")
    expires = _aware(row.lease_expires_at)
    if expires is None or expires <= now:
        raise OfferRefused("lease.expired", "the lease expired; the attempt is offered again")


def renew_lease(database: Database, offer_id: str, token: str) -> Offer:
    """The holder is still at work: its lease runs `lease_seconds` from now."""
    with database.transaction() as session:
        row = _locked(session, offer_id)
        now = utc_now()
        _check_lease(row, token, now)
        row.lease_expires_at = now + timedelta(seconds=row.lease_seconds)
        session.flush()
        return _offer(row)


def submit_offer(
    database: Database,
    offer_id: str,
    token: str,
    submission: Submission,
    check: Callable[[Offer, Submission], None] | None = None,
) -> Offer:
    """Take the holder's one submission. `check(offer, submission)` may refuse it first (by raising),
    inside the same transaction, so a refused submission leaves the lease as it was."""
    with database.transaction() as session:
        row = _locked(session, offer_id)
        now = utc_now()
        _check_lease(row, token, now)
        if check is not None:
            check(_offer(row), submission)
        row.status = OfferStatus.SUBMITTED.value
        row.submission_json = submission.model_dump_json()
        row.submitted_at = now
        row.lease_expires_at = None
        session.flush()
        return _offer(row)


def claim_and_submit(
    database: Database,
    offer_id: str,
    claimant: str,
    submission: Submission,
    check: Callable[[Offer, Submission], None] | None = None,
) -> Offer:
    """Claim and submit at once, for a caller that holds no lease (upstream's builder_result): in
    one transaction, so a refused submission leaves the offer open to others."""
    with database.transaction() as session:
        row = _locked(session, offer_id)
        _refuse_unless_open(row)
        now = utc_now()
        _refuse_if_held(row, now)
        if check is not None:
            check(_offer(row), submission)
        row.status = OfferStatus.SUBMITTED.value
        row.claimed_by = claimant
        row.claims += 1
        row.lease_sha256, row.lease_expires_at = None, None
        row.submission_json = submission.model_dump_json()
        row.submitted_at = now
        session.flush()
        return _offer(row)


def withdraw_offer(database: Database, offer_id: str) -> None:
    """The run stopped waiting: nothing more is claimed or submitted (a submission stays)."""
    with database.transaction() as session:
        row = _locked(session, offer_id)
        if row.status != OfferStatus.SUBMITTED.value:
            row.status = OfferStatus.WITHDRAWN.value
            row.lease_sha256, row.lease_expires_at = None, None
